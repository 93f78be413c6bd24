# Fine-Gray by R's cmprsk::crr on tests/test_competing/fine_gray_data.csv (rows expanded by their weight):
#   Rscript tests/test_competing/fine_gray.R tests/test_competing/fine_gray_data.csv > tests/test_competing/fine_gray_r_output.txt
# Cause 1 is the event of interest; causes 2 and 3 compete; 0 is censored. Convergence is tightened
# (gtol, maxiter) so that the comparison is of the estimator, not of where crr stops iterating.
library(cmprsk)
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1])
d <- d[rep(seq_len(nrow(d)), d$weight), ]
x <- model.matrix(~ group + sex, data = d)[, -1]
fit <- crr(d$days, d$cause, x, failcode = 1, cencode = 0, gtol = 1e-12, maxiter = 100)
stopifnot(fit$converged)
options(digits = 15)
print(cbind(coef = fit$coef, se = sqrt(diag(fit$var))))
