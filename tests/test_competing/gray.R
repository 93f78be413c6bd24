# Gray's test by R's cmprsk on tests/test_competing/gray_data.csv (rows expanded by their weight):
#   Rscript tests/test_competing/gray.R tests/test_competing/gray_data.csv > tests/test_competing/gray_r_output.txt
library(cmprsk)
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1])
d <- d[rep(seq_len(nrow(d)), d$weight), ]
fit <- cuminc(d$days, d$cause, d$group, cencode = 0)
options(digits = 15)
print(fit$Tests)
