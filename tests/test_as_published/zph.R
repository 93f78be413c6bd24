# R's cox.zph (survival >= 3.0, transform = "km") for the package's adjusted Cox models on the committed
# synthetic extract, built here from the contract's columns:
#   Rscript tests/test_as_published/zph.R data_synthetic/ips_extract.csv > tests/test_as_published/zph_r_output.txt
# Levels as the package chooses them: 'Not known' and groups of fewer than 10 left out, the largest group the
# reference; people known on all four factors.
library(survival)
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1], na.strings = "")
extract <- as.Date("2024-02-27")
d$age_band <- as.character(cut(d$age, c(0, 18, 25, 35, 45, 55, 121), right = FALSE,
                               labels = c("Under 18", "18-24", "25-34", "35-44", "45-54", "55+")))
first <- as.Date(d$first_contact_date)
outcome_day <- as.numeric(as.Date(d$outcome_date) - first)
discharge_day <- as.numeric(as.Date(d$discharge_date) - first)
open_day <- as.numeric(extract - first)
discharged <- !is.na(d$discharge_date)
factors <- c("ethnicity", "gender", "age_band", "diagnosis")
model <- function(label, cohort) {
  for (f in factors) {
    sizes <- table(cohort[[f]])
    keep <- names(sizes)[sizes >= 10 & names(sizes) != "Not known"]
    cohort <- cohort[cohort[[f]] %in% keep, ]
    sizes <- sizes[keep]
    reference <- names(sizes)[order(-sizes, names(sizes))][1]
    cohort[[f]] <- relevel(factor(cohort[[f]]), ref = reference)
  }
  fit <- coxph(Surv(time, event) ~ ethnicity + gender + age_band + diagnosis, data = cohort, ties = "efron",
               control = coxph.control(eps = 1e-12, iter.max = 100))  # converged as far as the package
  cat(label, "\n")
  print(cox.zph(fit, transform = "km")$table)
}
options(digits = 12)
seeking <- d$outcome != "retained_employment"
job <- d$outcome == "gained_employment"
education <- d$outcome == "education"
employment <- data.frame(d, time = ifelse(job | education, outcome_day, ifelse(discharged, discharge_day, open_day)),
                         event = as.integer(job))[seeking, ]
model("employment", employment)
in_work <- d$outcome %in% c("gained_employment", "retained_employment")
support <- data.frame(d, time = ifelse(discharged, discharge_day, open_day) - outcome_day,
                      event = as.integer(discharged))[in_work, ]
model("in_work", support)
