# lme4 2.x's printed random-effects tables (reformulas' formatVC) for VarCorr objects built
# from lme4 2.1's own Covariance classes at chosen parameters: every structure and hom, the
# corner cases (an SD of 0 -> "NaN (ar1)", one-column cs/ar1 -> "1.00 (cs)", more than 10
# columns -> "..." rows, no correlation at all, no residual, repeated group names).
# Writes tests/reference/display/formatvc_structured.json, read by
# tests/test_display_structured.py. Run from the repository root:
#   R_LIBS=/opt/lme4-2.1 Rscript tests/reference/r/formatvc_structured.R
suppressMessages(library(lme4))
library(jsonlite)
stopifnot(packageVersion("lme4") >= "2.1.0")

term <- function(kind, cnms, par, hom = NULL, group = "g")
  list(kind = kind, cnms = cnms, par = par, hom = hom, group = group)

cases <- list(
  mixed_us3_cs3 = list(sc = 1.7, terms = list(
    term("us", c("(Intercept)", "x", "z"), c(1.2, 0.3, -0.4, 0.8, 0.1, 0.5), group = "subj"),
    term("cs", c("a", "b", "c"), c(0.9, 0.4, 1.1, -0.25), group = "item"))),
  homcs4_diag3 = list(sc = 2.5, terms = list(
    term("cs", paste0("t", 1:4), c(0.61, 0.37), hom = TRUE, group = "subj"),
    term("diag", c("(Intercept)", "x", "w"), c(3.1, 0.02, 0.7), group = "site"))),
  ar1_sd0 = list(sc = 0.9, terms = list(
    term("ar1", paste0("time", 1:5), c(0, 0.6), group = "subj"),
    term("us", "(Intercept)", 0.4, group = "item"))),
  hetar1_first_sd0 = list(sc = 1, terms = list(
    term("ar1", paste0("t", 1:4), c(0, 1.2, 0.8, 0.5, 0.45), hom = FALSE, group = "subj"))),
  hetar1 = list(sc = 12.3, terms = list(
    term("ar1", paste0("t", 1:4), c(0.3, 1.2, 0.8, 0.5, -0.35), hom = FALSE, group = "subj"),
    term("us", c("(Intercept)", "x"), c(0.5, 0.1, 0.2), group = "item"))),
  one_column = list(sc = 30.99, terms = list(
    term("cs", "(Intercept)", 1.198, group = "Subject"),
    term("ar1", "(Intercept)", 0.5, group = "Worker"),
    term("diag", "(Intercept)", 0.25, group = "site"))),
  cs_negative = list(sc = 3, terms = list(
    term("cs", c("m1", "m2", "m3"), c(1.5, 2.5, 0.5, -0.4999), group = "Worker"),
    term("us", c("m1", "m2"), c(1, -0.9, 0.2), group = "Worker"))),
  maxdim = list(sc = 1, terms = list(
    term("us", paste0("c", 1:12), {
      L <- diag(12); L[lower.tri(L)] <- 0.1; L[lower.tri(L, diag = TRUE)] }, group = "g"),
    term("cs", paste0("d", 1:11), c(seq(0.5, 1.5, by = 0.1), 0.2), group = "h"))),
  diag_only = list(sc = 25.565, terms = list(
    term("diag", c("(Intercept)", "Days"), c(0.98, 0.234), group = "Subject"),
    term("diag", c("a", "b", "c"), 0.5, hom = TRUE, group = "Subject"))),
  no_residual = list(sc = NULL, terms = list(
    term("cs", paste0("period", 1:4), c(0.8, 0, 0.3, 0.6, 0.1), group = "herd"),
    term("us", "(Intercept)", 0.7, group = "BROOD"))),
  no_residual_homcs = list(sc = NULL, terms = list(
    term("cs", paste0("period", 1:4), c(0.75, 0.2), hom = TRUE, group = "herd"))),
  repeated_groups = list(sc = 2, terms = list(
    term("us", "(Intercept)", 3, group = "Subject"),
    term("ar1", c("t1", "t2", "t3"), c(1.1, 0.7), group = "Subject"),
    term("diag", c("x", "z"), c(0.2, 0.3), group = "Subject")))
)

mkcov <- function(t) {
  nc <- length(t$cnms)
  o <- if (is.null(t$hom)) new(paste0("Covariance.", t$kind), nc = nc)
       else new(paste0("Covariance.", t$kind), nc = nc, hom = t$hom)
  lme4:::setPar(o, t$par)
}

# jsonlite writes at most 15 significant digits: the SDs and correlations go as "%.17g"
# strings, so that Python reads back R's doubles (a variance sd^2 can sit on a rounding tie)
exact <- function(x) {
  out <- sprintf("%.17g", x)
  if (is.matrix(x)) matrix(out, nrow(x)) else out
}

out_case <- function(name, case) {
  reCovs <- lapply(case$terms, mkcov)
  cnms <- setNames(lapply(case$terms, `[[`, "cnms"), vapply(case$terms, `[[`, "", "group"))
  useSc <- !is.null(case$sc)
  vc <- lme4:::mkVarCorr(sc = if (useSc) case$sc else 1, cnms = cnms,
                         nms = names(cnms), reCovs = reCovs, relReCovs = useSc)
  class(vc) <- "VarCorr.merMod"
  attr(vc, "useSc") <- useSc
  blocks <- lapply(seq_along(vc), function(i) {
    x <- vc[[i]]
    list(group = names(cnms)[i], kind = case$terms[[i]]$kind, hom = case$terms[[i]]$hom,
         par = I(case$terms[[i]]$par), names = I(colnames(x)),
         stddev = I(exact(unname(attr(x, "stddev")))),
         correlation = exact(unname(attr(x, "correlation"))),
         vcmat_class = sub("^vcmat_", "", class(x)[1]))
  })
  txt <- function(expr) paste(capture.output(expr), collapse = "\n")
  list(id = name, sigma = if (useSc) case$sc else NULL, use_sc = useSc, blocks = blocks,
       print_sd = txt(print(vc)),
       print_both = txt(print(vc, comp = c("Variance", "Std.Dev."))),
       print_digits3 = txt(print(vc, digits = 3, comp = c("Std.Dev.", "Variance"))),
       summary_table = txt(print(formatVC(vc, digits = 4, comp = c("Variance", "Std.Dev.")),
                                 quote = FALSE)),
       print_fit_table = txt(print(formatVC(vc, digits = 4, comp = "Std.Dev."), quote = FALSE)))
}

out <- list(generated_by = "tests/reference/r/formatvc_structured.R",
            r_version = R.version.string,
            lme4_version = format(packageVersion("lme4")),
            reformulas_version = format(packageVersion("reformulas")),
            cases = mapply(out_case, names(cases), cases, SIMPLIFY = FALSE, USE.NAMES = FALSE))
writeLines(toJSON(out, auto_unbox = TRUE, pretty = TRUE, digits = NA, null = "null",
                  na = "string"),
           "tests/reference/display/formatvc_structured.json")
