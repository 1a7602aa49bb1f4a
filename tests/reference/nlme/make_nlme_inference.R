# nlme golden files for anova(fit, Terms =, L =) on gls fits (issue 13).
#
#   Rscript tests/reference/nlme/make_nlme_inference.R      (from the repository root)
#
# Needs R with nlme (3.1-162 made these) and jsonlite; reads the data sets and the gls calls
# make_gls.R wrote (tests/reference/nlme/data, tests/reference/nlme/gls/ID.json) and writes
#   tests/reference/nlme/anova_terms_L.json     single-model F tests with Terms= or L=, and
#                                               nlme's errors for bad Terms/L
# Numbers unrounded (jsonlite digits = NA); printed text at options(width = 80, digits = 7).
# Terms are written as R has them (names, or 1-based positions); the tests map positions to
# lmerpy's 0-based ones.
suppressPackageStartupMessages({
  library(nlme)
  library(jsonlite)
})
options(width = 80, digits = 7, warn = 1)

script_dir <- function() {
  arg <- grep("^--file=", commandArgs(trailingOnly = FALSE), value = TRUE)
  if (length(arg)) return(dirname(normalizePath(sub("^--file=", "", arg[1]))))
  normalizePath(file.path("tests", "reference", "nlme"))
}
OUT <- script_dir()
DATA <- file.path(OUT, "data")

load_data <- function(name) {
  df <- read.csv(gzfile(file.path(DATA, paste0(name, ".csv.gz"))), check.names = FALSE,
                 stringsAsFactors = FALSE, na.strings = "NA")
  meta <- fromJSON(file.path(DATA, paste0(name, ".levels.json")), simplifyVector = TRUE)
  for (col in names(meta$levels)) {
    df[[col]] <- factor(as.character(df[[col]]), levels = as.character(unlist(meta$levels[[col]])),
                        ordered = col %in% unlist(meta$ordered))
  }
  df
}

text_of <- function(x) paste(capture.output(print(x)), collapse = "\n")
V <- function(x) if (is.null(x)) NULL else I(unname(as.vector(x)))

fit_env <- new.env()
gls_fit <- function(id) {
  case <- fromJSON(file.path(OUT, "gls", paste0(id, ".json")), simplifyVector = TRUE)
  if (!exists(case$data, envir = fit_env, inherits = FALSE))
    assign(case$data, load_data(case$data), envir = fit_env)
  eval(parse(text = case$r_call), envir = fit_env)
}

## L as JSON: rows, and the column / row names R sees (NULL when absent)
L_json <- function(L) {
  if (is.null(L)) return(NULL)
  m <- if (is.matrix(L)) L else t(as.matrix(L))
  list(rows = unname(lapply(seq_len(nrow(m)), function(i) V(m[i, ]))),
       colnames = if (is.null(colnames(m))) NULL else I(colnames(m)),
       rownames = if (is.null(rownames(m))) NULL else I(rownames(m)),
       vector = !is.matrix(L))
}

CASES <- list(
  list(id = "ovary_terms_positions", fit = "ovary_ar1", Terms = c(2, 3)),
  list(id = "ovary_terms_name", fit = "ovary_ar1", Terms = "cos(2 * pi * Time)"),
  list(id = "ovary_L_vector", fit = "ovary_ar1", L = c(0, 1, -1)),
  list(id = "ovary_L_matrix", fit = "ovary_ar1", L = rbind(a = c(0, 1, 0), b = c(0, 0, 1))),
  list(id = "ovary_L_named_one", fit = "ovary_ar1", L = c("cos(2 * pi * Time)" = 1)),
  list(id = "ovary_L_named_two", fit = "ovary_ar1",
       L = c("sin(2 * pi * Time)" = 1, "cos(2 * pi * Time)" = 1)),
  list(id = "ovary_ml_terms", fit = "ovary_ar1_ml", Terms = 2),
  list(id = "ovary_ml_L", fit = "ovary_ar1_ml", L = c(0, 1, -1)),
  list(id = "ortho_terms_interaction", fit = "ortho_ident", Terms = "age:Sex"),
  list(id = "ortho_terms_two", fit = "ortho_ident", Terms = c("Sex", "age:Sex")),
  list(id = "ortho_L_colnames", fit = "ortho_ident",
       L = matrix(c(1, 0, 0, 1, 1, 1), nrow = 3, byrow = TRUE,
                  dimnames = list(NULL, c("SexFemale", "age:SexFemale")))),
  list(id = "ortho_L_short", fit = "ortho_ident", L = c(0, 1)),
  # nlme's errors
  list(id = "err_terms_range", fit = "ovary_ar1", Terms = 5),
  list(id = "err_terms_name", fit = "ovary_ar1", Terms = "nope"),
  list(id = "err_L_columns", fit = "ovary_ar1", L = c(1, 0, 0, 0, 1)),
  list(id = "err_L_name", fit = "ovary_ar1", L = c(nope = 1))
)

out <- list()
for (case in CASES) {
  fit <- gls_fit(case$fit)
  args <- list(fit)
  if (!is.null(case$Terms)) args$Terms <- case$Terms
  if (!is.null(case$L)) args$L <- case$L
  res <- list(id = case$id, fit = case$fit, model = "gls",
              Terms = if (is.null(case$Terms)) NULL else I(case$Terms),
              Terms_numeric = is.numeric(case$Terms), L = L_json(case$L))
  a <- tryCatch(do.call(anova, args), error = function(e) e)
  if (inherits(a, "error")) {
    res$error <- conditionMessage(a)
  } else {
    res$numDF <- V(a[["numDF"]])
    res$denDF <- if ("denDF" %in% names(a)) V(a[["denDF"]]) else NULL
    res$F <- V(a[["F-value"]])
    res$p <- V(a[["p-value"]])
    res$L_printed <- if (is.null(attr(a, "L"))) NULL else L_json(attr(a, "L"))
    res$text <- text_of(a)
  }
  out[[length(out) + 1L]] <- res
}
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE, null = "null",
                  na = "null"),
           file.path(OUT, "anova_terms_L.json"))
cat("nlme", as.character(packageVersion("nlme")), ":", length(out), "anova cases\n")
