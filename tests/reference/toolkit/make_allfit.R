# Goldens for lmerpy's allFit (issue 16): lme4 1.1-31's allFit(fit) and summary(allFit(fit)) on
# sleepstudy (random slopes) and cbpp (binomial GLMM).
#
# Run from the repository root:  Rscript tests/reference/toolkit/make_allfit.R
# Needs R 4.2, Debian's lme4 1.1-31 (not lme4 2.x) and jsonlite. Writes
# tests/reference/toolkit/allfit/ID.json.
#
# lme4 1.1-31's allFit fails when both dfoptim and optimx are missing (it subsets its table of
# optimizers with a logical vector of the full table's length twice); the copy used here has
# those two subsets indexed by the table itself, nothing else changed. Its optimizers are then
# bobyqa (minqa), Nelder_Mead, nlminbwrap, nloptwrap.NLOPT_LN_NELDERMEAD, nloptwrap.NLOPT_LN_BOBYQA.

source(file.path("tests", "reference", "r", "common.R"))
stopifnot(packageVersion("lme4") < "2.0")
OUT <- file.path(REF_DIR, "toolkit", "allfit")

src <- paste(deparse(lme4::allFit), collapse = "\n")
src <- gsub('meth.tab\\[meth.tab.0\\[, "optimizer"\\] != "(nmkbw|optimx)",\\s*\\]',
            'meth.tab[meth.tab[, "optimizer"] != "\\1", , drop = FALSE]', src, perl = TRUE)
allFit_fixed <- eval(parse(text = src))
environment(allFit_fixed) <- asNamespace("lme4")

mat <- function(m) list(rownames = arr(rownames(m)), colnames = arr(colnames(m)), rows = rows(m))

case <- function(id, fn, formula, data, family = NULL) {
  df <- load_data(data)
  assign(data, df)
  f <- as.formula(formula)
  fit <- if (fn == "lmer") eval(bquote(lmer(.(f), data = .(as.name(data))))) else
    eval(bquote(glmer(.(f), data = .(as.name(data)), family = .(as.name(family)))))
  aa <- suppressMessages(suppressWarnings(allFit_fixed(fit, verbose = FALSE)))
  s <- summary(aa)
  out <- list(
    id = id, fn = fn, formula = formula, data = data, family = family,
    names = arr(names(aa)),
    which_OK = arr(unname(s$which.OK)),
    msgs = lapply(s$msgs, function(m) if (is.null(m)) NULL else arr(m)),
    fixef = mat(s$fixef), llik = named(s$llik), sdcor = mat(as.matrix(s$sdcor)),
    theta = mat(s$theta), feval = arr(s$feval),
    printed = paste(capture.output(print(aa)), collapse = "\n")
  )
  write_case(out, OUT, id)
}

case("sleep_slope", "lmer", "Reaction ~ Days + (Days | Subject)", "sleepstudy")
case("cbpp_logit", "glmer", "cbind(incidence, size - incidence) ~ period + (1 | herd)", "cbpp",
     family = "binomial")
