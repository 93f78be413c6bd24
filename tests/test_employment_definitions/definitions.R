# The competing-event definitions of analysis/questions/employment.py recomputed by R's cmprsk::cuminc (Aalen-Johansen)
# and survival::survfit (1 - Kaplan-Meier) on the committed synthetic extract:
#   Rscript tests/test_employment_definitions/definitions.R data_synthetic/ips_extract.csv \
#     > tests/test_employment_definitions/definitions_r_output.txt
# Each definition is built here from the contract's columns, independently of the package's code.
library(cmprsk)
library(survival)
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1], na.strings = "")
extract <- as.Date("2024-02-27")
d <- d[d$outcome != "retained_employment", ]
first <- as.Date(d$first_contact_date)
outcome_day <- as.numeric(as.Date(d$outcome_date) - first)
discharge_day <- as.numeric(as.Date(d$discharge_date) - first)
open_day <- as.numeric(extract - first)
job <- d$outcome == "gained_employment"
education <- d$outcome == "education"
discharged <- !is.na(d$discharge_date)
# education competing: 1 job, 2 education or discharge with neither, 0 censored
time_a <- ifelse(job | education, outcome_day, ifelse(discharged, discharge_day, open_day))
cause_a <- ifelse(job, 1, ifelse(education | discharged, 2, 0))
# discharge competing: education stays seeking until discharge
time_b <- ifelse(job, outcome_day, ifelse(discharged, discharge_day, open_day))
cause_b <- ifelse(job, 1, ifelse(discharged, 2, 0))
# job or education as success
cause_c <- ifelse(job | education, 1, ifelse(discharged, 2, 0))
months <- c(6, 12, 18) * 365.25 / 12
options(digits = 15)
show <- function(label, fit) {
  cat(label, "\n")
  print(timepoints(fit, months)$est["1 1", ])
  print(sqrt(timepoints(fit, months)$var["1 1", ]))
}
show("education competing", cuminc(time_a, cause_a, cencode = 0))
show("discharge competing", cuminc(time_b, cause_b, cencode = 0))
show("job or education", cuminc(time_a, cause_c, cencode = 0))
km <- function(label, time, event) {
  cat(label, "\n")
  s <- summary(survfit(Surv(time, event) ~ 1), times = months, extend = TRUE)
  print(1 - s$surv)
}
km("1 - Kaplan-Meier", time_a, cause_a == 1)
km("1 - Kaplan-Meier, education at risk", time_b, cause_b == 1)
# the restricted mean time lost to employment by 12 months: the area under cuminc's step curve
fit <- cuminc(time_a, cause_a, cencode = 0)[["1 1"]]
tau <- 12 * 365.25 / 12
steps <- stepfun(fit$time[-1], fit$est)  # cuminc lists each jump twice; the curve just before and at each time
grid <- sort(unique(c(0, fit$time[fit$time <= tau], tau)))
cat("rmtl 12 months\n")
print(sum(steps(grid[-length(grid)]) * diff(grid)))
