# The referee's sensitivity analyses by R, on the fixtures of this folder (make_fixture.py):
#   Rscript tests/test_referee/referee.R tests/test_referee > tests/test_referee/r_output.txt
# Prints, one value per line as "name value" (digits 15): for each analysis, the adjusted model's
# coefficients; the cluster-robust SEs by site (glm: sandwich::vcovCL's default for glm, HC0 with the
# factor G/(G-1), and without it; coxph: cluster = site, no small-sample factor); the restricted cubic spline knots of rms::rcs(age, 4), its
# basis at ages 20..70, and the spline model's log-likelihood and coefficients (glm / coxph, Efron ties);
# mice::pool.scalar on pool_input.csv; p.adjust(method = "holm") on fixed p-values.
suppressPackageStartupMessages({library(survival); library(sandwich); library(rms); library(mice)})
args <- commandArgs(trailingOnly = TRUE)
dir <- args[1]
levels <- read.csv(file.path(dir, "levels.csv"), stringsAsFactors = FALSE)
say <- function(name, value) for (i in seq_along(value))
  cat(sprintf("%s%s %.15g\n", name, if (length(value) > 1) paste0("[", i, "]") else "", value[i]))
factors <- c("ethnicity", "gender", "age_band", "diagnosis")
for (analysis in c("outcome", "employment", "in_work")) {
  d <- read.csv(file.path(dir, paste0(analysis, ".csv")), stringsAsFactors = FALSE)
  used <- intersect(factors, unique(levels$factor[levels$analysis == analysis]))
  for (f in used) {
    lv <- levels[levels$analysis == analysis & levels$factor == f, ]
    d[[f]] <- factor(d[[f]], levels = lv$level[order(lv$position)])
  }
  bands <- as.formula(paste("~", paste(used, collapse = " + ")))
  others <- setdiff(used, "age_band")
  spline <- as.formula(paste("~", paste(c(others, "rcs(age, 4)"), collapse = " + ")))
  knots <- attr(rcs(d$age, 4), "parms")
  say(paste0(analysis, ".knots"), knots)
  say(paste0(analysis, ".basis"), as.vector(t(unclass(rcs(c(20, 30, 40, 50, 60, 70), knots)))))
  if (analysis == "outcome") {
    fit <- glm(update(bands, event ~ .), family = binomial, data = d, control = glm.control(epsilon = 1e-14, maxit = 100))
    say(paste0(analysis, ".coef"), coef(fit)[-1])
    say(paste0(analysis, ".se_model"), sqrt(diag(vcov(fit)))[-1])
    say(paste0(analysis, ".se_cluster"), sqrt(diag(vcovCL(fit, cluster = ~site)))[-1])  # glm default: HC0, G/(G-1)
    say(paste0(analysis, ".se_cluster_raw"), sqrt(diag(vcovCL(fit, cluster = ~site, cadjust = FALSE)))[-1])
    sfit <- glm(update(spline, event ~ .), family = binomial, data = d, control = glm.control(epsilon = 1e-14, maxit = 100))
    say(paste0(analysis, ".spline_coef"), coef(sfit)[-1])
    say(paste0(analysis, ".spline_loglik"), as.numeric(logLik(sfit)))
    say(paste0(analysis, ".bands_loglik"), as.numeric(logLik(fit)))
  } else {
    ctl <- coxph.control(eps = 1e-10, iter.max = 100)
    fit <- coxph(update(bands, Surv(days, event) ~ .), data = d, ties = "efron", cluster = site, control = ctl)
    say(paste0(analysis, ".coef"), coef(fit))
    say(paste0(analysis, ".se_model"), sqrt(diag(fit$naive.var)))
    say(paste0(analysis, ".se_cluster"), sqrt(diag(fit$var)))
    sfit <- coxph(update(spline, Surv(days, event) ~ .), data = d, ties = "efron", control = ctl)
    say(paste0(analysis, ".spline_coef"), coef(sfit))
    say(paste0(analysis, ".spline_loglik"), sfit$loglik[2])
    say(paste0(analysis, ".bands_loglik"), fit$loglik[2])
  }
}
pool <- read.csv(file.path(dir, "pool_input.csv"))
for (j in sort(unique(pool$parameter))) {
  mine <- pool[pool$parameter == j, ]
  p <- pool.scalar(mine$estimate, mine$variance, n = 100, k = 4)
  say(paste0("pool", j, ".qbar"), p$qbar); say(paste0("pool", j, ".t"), p$t)
  say(paste0("pool", j, ".df"), p$df); say(paste0("pool", j, ".fmi"), p$fmi)
}
say("holm", p.adjust(c(0.01, 0.04, 0.03, 0.2, 0.005, 0.5), method = "holm"))
