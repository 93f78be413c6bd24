# The same model fits as `ips-analysis run`, in R (survival + stats), on the same extract, for the
# side-by-side benchmark. Usage: Rscript bench/fits.R EXTRACT.csv EXTRACT_DATE
suppressMessages(library(survival))
args <- commandArgs(trailingOnly = TRUE)
extract_date <- as.Date(args[2])
d <- read.csv(args[1], colClasses = "character", na.strings = "")
for (col in c("first_contact_date", "outcome_date", "discharge_date")) d[[col]] <- as.Date(d[[col]])
d$age <- as.integer(d$age)
d$age_band <- cut(d$age, c(0, 18, 25, 35, 45, 55, 200), right = FALSE,
                  labels = c("Under 18", "18-24", "25-34", "35-44", "45-54", "55+"))
factors <- c("ethnicity", "gender", "age_band", "diagnosis")
for (f in factors) d[[f]] <- factor(d[[f]])

# time to employment (retained employment left out), discharge competing
s <- d[d$outcome != "retained_employment", ]
gained <- s$outcome == "gained_employment"
end <- ifelse(gained, s$outcome_date, ifelse(is.na(s$discharge_date), extract_date, s$discharge_date))
s$days <- as.numeric(end - as.numeric(s$first_contact_date))
s$cause <- ifelse(gained, 1, ifelse(is.na(s$discharge_date), 0, 2))
s$employed <- as.integer(s$cause == 1)
km <- survfit(Surv(days, employed) ~ 1, data = s, conf.type = "log-log")
aj <- survfit(Surv(days, factor(cause, 0:2)) ~ 1, data = s)
# in-work support
w <- d[d$outcome %in% c("gained_employment", "retained_employment"), ]
w$days <- as.numeric(ifelse(is.na(w$discharge_date), extract_date, w$discharge_date) - as.numeric(w$outcome_date))
w$discharged <- as.integer(!is.na(w$discharge_date))
km2 <- survfit(Surv(days, discharged) ~ 1, data = w, conf.type = "log-log")
for (frame in list(list(s, "employed"), list(w, "discharged"))) {
  x <- frame[[1]]; ev <- frame[[2]]
  for (f in factors) {
    k <- x[x[[f]] != "Not known", ]; k[[f]] <- droplevels(k[[f]])
    survdiff(as.formula(paste0("Surv(days, ", ev, ") ~ ", f)), data = k)
    fit <- coxph(as.formula(paste0("Surv(days, ", ev, ") ~ ", f)), data = k, ties = "efron")
    cox.zph(fit)
  }
  k <- x[apply(x[factors] != "Not known", 1, all), ]
  for (f in factors) k[[f]] <- droplevels(k[[f]])
  fit <- coxph(as.formula(paste0("Surv(days, ", ev, ") ~ ", paste(factors, collapse = " + "))), data = k, ties = "efron")
  cox.zph(fit)
}
# outcome equity: chi-squared and logistic models
d$positive <- as.integer(d$outcome != "none")
for (f in factors) {
  k <- d[d[[f]] != "Not known", ]; k[[f]] <- droplevels(k[[f]])
  suppressWarnings(chisq.test(table(k[[f]], k$positive), correct = FALSE))
  glm(as.formula(paste0("positive ~ ", f)), family = binomial, data = k)
}
k <- d[apply(d[factors] != "Not known", 1, all), ]
invisible(glm(as.formula(paste0("positive ~ ", paste(factors, collapse = " + "))), family = binomial, data = k))
cat("R fits done on", nrow(d), "rows\n")
