# Reference pooling for tests/test_pool.py: R's metafor::rma on the per-service estimates the package
# derived from the released results of the four synthetic services (estimates.csv: measure, factor, level,
# service, estimate, se), by DerSimonian-Laird and REML, with Wald and Hartung-Knapp ("knha") intervals,
# and the meta-regression on fidelity (examples/pool_fidelity.csv). Run from the repository root:
#   Rscript tests/test_pool/metafor.R
# which writes tests/test_pool/metafor_output.csv and metafor_regression.csv (or into the folder given as
# its argument). REML's convergence is tightened (threshold 1e-12) so the comparison can be made to 1e-8.
suppressPackageStartupMessages(library(metafor))
args <- commandArgs(trailingOnly = TRUE)
out_dir <- if (length(args)) args[1] else "tests/test_pool"
est <- read.csv("tests/test_pool/estimates.csv", stringsAsFactors = FALSE, colClasses = c(level = "character"))
fidelity <- read.csv("examples/pool_fidelity.csv", stringsAsFactors = FALSE)
control <- list(threshold = 1e-12, maxiter = 1000)
digits <- function(frame, columns) {  # every digit R has, NA left blank
  for (column in columns) frame[[column]] <- ifelse(is.na(frame[[column]]), NA, sprintf("%.17g", frame[[column]]))
  frame
}
groups <- unique(est[, c("measure", "factor", "level")])
rows <- list()
for (g in seq_len(nrow(groups))) {
  d <- merge(est, groups[g, ])
  if (nrow(d) < 2) next
  for (method in c("DL", "REML")) for (test in c("z", "knha")) {
    fit <- rma(yi = d$estimate, sei = d$se, method = method, test = test, control = control)
    half <- if (fit$k >= 3) qt(0.975, fit$k - 2) * sqrt(fit$tau2 + fit$se^2) else NA
    rows[[length(rows) + 1]] <- data.frame(
      measure = groups$measure[g], factor = groups$factor[g], level = groups$level[g], method = tolower(method),
      hartung_knapp = test == "knha", k = fit$k, mu = fit$beta[1], se = fit$se, conf_low = fit$ci.lb,
      conf_high = fit$ci.ub, tau2 = fit$tau2, i2 = fit$I2 / 100, q = fit$QE, q_p = fit$QEp,
      pi_low = fit$beta[1] - half, pi_high = fit$beta[1] + half)
  }
}
pooled <- digits(do.call(rbind, rows), c("mu", "se", "conf_low", "conf_high", "tau2", "i2", "q", "q_p", "pi_low", "pi_high"))
write.csv(pooled, file.path(out_dir, "metafor_output.csv"), row.names = FALSE, na = "")

# The meta-regression on the IPS-25 total per 10 points: the job rate (the book's), and the most
# heterogeneous group (a test of REML with a moderator away from tau^2 = 0).
regressions <- list(c("job_rate_pct", "all", "all"), c("employment_cox_hr_unadjusted", "diagnosis", "Personality disorder"))
rows <- list()
for (r in regressions) {
  d <- merge(est[est$measure == r[1] & est$factor == r[2] & est$level == r[3], ], fidelity, by = "service")
  for (method in c("DL", "REML")) for (test in c("z", "knha")) {
    fit <- rma(yi = d$estimate, sei = d$se, mods = ~ I(ips25_total / 10), data = d, method = method, test = test,
               control = control)
    rows[[length(rows) + 1]] <- data.frame(
      measure = r[1], factor = r[2], level = r[3], method = tolower(method), hartung_knapp = test == "knha",
      k = fit$k, intercept = fit$beta[1], slope = fit$beta[2], se = fit$se[2], conf_low = fit$ci.lb[2],
      conf_high = fit$ci.ub[2], p = fit$pval[2], tau2 = fit$tau2)
  }
}
regression <- digits(do.call(rbind, rows), c("intercept", "slope", "se", "conf_low", "conf_high", "p", "tau2"))
write.csv(regression, file.path(out_dir, "metafor_regression.csv"), row.names = FALSE, na = "")

# Away from tau^2 = 0: metafor's own dat.bcg (13 BCG vaccine trials, Colditz et al. 1994), log risk ratios
# by escalc, pooled by the same four methods and regressed on absolute latitude. The services above are
# drawn alike, so their tau^2 is mostly 0; this checks the interior, where REML's iterations matter.
bcg <- escalc(measure = "RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
rows <- list()
for (method in c("DL", "REML")) for (test in c("z", "knha")) {
  fit <- rma(yi, vi, data = bcg, method = method, test = test, control = control)
  half <- qt(0.975, fit$k - 2) * sqrt(fit$tau2 + fit$se^2)
  reg <- rma(yi, vi, mods = ~ ablat, data = bcg, method = method, test = test, control = control)
  rows[[length(rows) + 1]] <- data.frame(
    method = tolower(method), hartung_knapp = test == "knha", k = fit$k, mu = fit$beta[1], se = fit$se,
    conf_low = fit$ci.lb, conf_high = fit$ci.ub, tau2 = fit$tau2, i2 = fit$I2 / 100, q = fit$QE, q_p = fit$QEp,
    pi_low = fit$beta[1] - half, pi_high = fit$beta[1] + half, reg_intercept = reg$beta[1], reg_slope = reg$beta[2],
    reg_se = reg$se[2], reg_conf_low = reg$ci.lb[2], reg_conf_high = reg$ci.ub[2], reg_p = reg$pval[2],
    reg_tau2 = reg$tau2)
}
bcg_fits <- do.call(rbind, rows)
write.csv(digits(bcg_fits, setdiff(names(bcg_fits), c("method", "hartung_knapp", "k"))),
          file.path(out_dir, "bcg_output.csv"), row.names = FALSE, na = "")
write.csv(digits(data.frame(trial = bcg$trial, tpos = bcg$tpos, tneg = bcg$tneg, cpos = bcg$cpos, cneg = bcg$cneg,
                            ablat = bcg$ablat, yi = as.numeric(bcg$yi), vi = bcg$vi), c("yi", "vi")),
          file.path(out_dir, "bcg.csv"), row.names = FALSE, na = "")
writeLines(paste("metafor", packageVersion("metafor"), "on", R.version.string), file.path(out_dir, "metafor_version.txt"))
