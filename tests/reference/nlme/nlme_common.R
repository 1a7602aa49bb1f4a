# Helpers shared by the nlme golden-file generators (make_gls.R, make_lme.R, make_glmmpql.R,
# make_nlme_inference.R), which source() it first; run those from the repository root.
# Loads nlme and jsonlite and sets the printing options the goldens were made with.
suppressPackageStartupMessages({
  library(nlme)
  library(jsonlite)
})
options(width = 80, digits = 7, warn = 1)

## The folder of the generator being run (tests/reference/nlme)
script_dir <- function() {
  arg <- grep("^--file=", commandArgs(trailingOnly = FALSE), value = TRUE)
  if (length(arg)) return(dirname(normalizePath(sub("^--file=", "", arg[1]))))
  normalizePath(file.path("tests", "reference", "nlme"))
}
OUT <- script_dir()
DATA <- file.path(OUT, "data")
dir.create(DATA, showWarnings = FALSE, recursive = TRUE)

## ---- data: CSV + levels JSON, written then read back so R fits what lmerpy reads --------

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

save_data <- function(df, name) {
  df <- as.data.frame(df)
  attributes(df) <- attributes(df)[c("names", "row.names", "class")]
  class(df) <- "data.frame"
  con <- gzfile(file.path(DATA, paste0(name, ".csv.gz")), "w")
  write.csv(df, con, row.names = FALSE, na = "NA")
  close(con)
  facs <- names(df)[vapply(df, is.factor, TRUE)]
  meta <- list(levels = setNames(lapply(facs, function(f) I(levels(df[[f]]))), facs),
               ordered = I(names(df)[vapply(df, is.ordered, TRUE)]))
  writeLines(toJSON(meta, auto_unbox = TRUE, pretty = TRUE),
             file.path(DATA, paste0(name, ".levels.json")))
  load_data(name)
}

## nlme's and MASS's data sets the documentation uses are bundled with lmerpy too (same files)
BUNDLED <- normalizePath(file.path(OUT, "..", "..", "..", "lmerpy", "datasets", "data"))
bundle <- function(name) {
  for (ext in c(".csv.gz", ".levels.json"))
    file.copy(file.path(DATA, paste0(name, ext)), file.path(BUNDLED, paste0(name, ext)),
              overwrite = TRUE)
}

## ---- JSON pieces -----------------------------------------------------------------------

text_of <- function(x) paste(capture.output(print(x)), collapse = "\n")
V <- function(x) if (is.null(x)) NULL else I(unname(as.vector(x)))
mat_rows <- function(m) unname(lapply(seq_len(nrow(m)), function(i) V(m[i, ])))

## ---- Hessians by finite differences (nlme's apVar with Richardson extrapolation) -------

central_hess <- function(x, f, h, ...) {
  k <- length(x)
  f0 <- f(x, ...)
  H <- matrix(0, k, k)
  for (j in seq_len(k)) {
    ej <- numeric(k); ej[j] <- h[j]
    H[j, j] <- (f(x + ej, ...) - 2 * f0 + f(x - ej, ...)) / h[j]^2
    for (i in seq_len(j - 1)) {
      ei <- numeric(k); ei[i] <- h[i]
      H[i, j] <- H[j, i] <- (f(x + ei + ej, ...) - f(x + ei - ej, ...) -
                             f(x - ei + ej, ...) + f(x - ei - ej, ...)) / (4 * h[i] * h[j])
    }
  }
  H
}

richardson_hess <- function(x, f, ..., scale = 3e-2) {
  k <- length(x)
  h0 <- 1e-4 * pmax(1, abs(x))
  f0 <- f(x, ...)
  curv <- vapply(seq_len(k), function(i) {
    e <- numeric(k); e[i] <- h0[i]
    (f(x + e, ...) - 2 * f0 + f(x - e, ...)) / h0[i]^2
  }, 0)
  h <- ifelse(is.finite(curv) & curv != 0, scale / sqrt(abs(curv)), 1e-3)
  (4 * central_hess(x, f, h / 2, ...) - central_hess(x, f, h, ...)) / 3
}

## S(fn, ...): a structure's R call text and its Python call (as data) together (make_gls.R,
## make_lme.R)
S <- function(fn, ...) {
  a <- list(...)
  nm <- names(a)
  if (is.null(nm)) nm <- rep("", length(a))
  parts <- character(0)
  py_args <- list()
  py_kwargs <- structure(list(), names = character(0))
  for (i in seq_along(a)) {
    v <- a[[i]]
    if (is.list(v) && !is.null(v$r)) {
      txt <- v$r
      pyv <- v$py
    } else if (is.character(v)) {
      txt <- v               # a formula, written the same way on both sides
      pyv <- v
    } else {
      txt <- deparse(v)
      pyv <- v
    }
    if (nm[i] == "") {
      parts <- c(parts, txt)
      py_args[[length(py_args) + 1L]] <- pyv
    } else {
      parts <- c(parts, paste(nm[i], "=", txt))
      py_kwargs[[nm[i]]] <- pyv
    }
  }
  list(r = paste0(fn, "(", paste(parts, collapse = ", "), ")"),
       py = list(fn = fn, args = py_args, kwargs = py_kwargs))
}
