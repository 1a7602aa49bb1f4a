# Shared helpers for the lme4 golden-file generators.
#
# Sourced by the make_*_goldens.R scripts; run those from the repository root, e.g.
#   Rscript tests/reference/r/make_lmer_goldens.R
# Needs R (>= 4.2), lme4 1.1-31 and jsonlite.  Numbers are written unrounded
# (jsonlite digits = NA, i.e. 15 significant digits).

suppressPackageStartupMessages({
  library(lme4)
  library(jsonlite)
})

## ---- locations -------------------------------------------------------------------------

## The folder of this file (common.R is always source()d, so source()'s `ofile` names it).
script_dir <- function() {
  ofile <- unlist(lapply(sys.frames(), function(f) f$ofile))
  ofile <- ofile[basename(ofile) == "common.R"]
  if (length(ofile)) return(dirname(normalizePath(ofile[length(ofile)])))
  normalizePath(file.path("tests", "reference", "r"))
}

REF_DIR <- normalizePath(file.path(script_dir(), ".."))          # tests/reference
ROOT <- normalizePath(file.path(REF_DIR, "..", ".."))            # repository root
DATA_DIR <- file.path(REF_DIR, "data")                            # extra data sets (ours)
BUNDLED_DIR <- file.path(ROOT, "lmerpy", "datasets", "data")      # lmerpy's bundled data sets

## Fit times are recorded with one BLAS thread (as the older goldens were): re-run this
## script under OPENBLAS_NUM_THREADS=1 if it was started without it.
ensure_one_blas_thread <- function() {
  if (Sys.getenv("OPENBLAS_NUM_THREADS") == "1") return(invisible())
  arg <- grep("^--file=", commandArgs(trailingOnly = FALSE), value = TRUE)
  if (!length(arg)) return(invisible())
  status <- system2(file.path(R.home("bin"), "Rscript"),
                    c(shQuote(sub("^--file=", "", arg[1])), commandArgs(trailingOnly = TRUE)),
                    env = c("OPENBLAS_NUM_THREADS=1", "OMP_NUM_THREADS=1"))
  quit(save = "no", status = status)
}

## ---- data sets ---------------------------------------------------------------------------

## Load a data set the way lmerpy's loader does: CSV + levels JSON, factors rebuilt with the
## stored level order and ordered-ness.  Looks in tests/reference/data first (the extra data
## sets), then in lmerpy/datasets/data (the bundled ones, gzip-compressed).
load_data <- function(name) {
  csv <- file.path(DATA_DIR, paste0(name, ".csv"))
  lev <- file.path(DATA_DIR, paste0(name, ".levels.json"))
  if (!file.exists(csv)) {
    csv <- file.path(BUNDLED_DIR, paste0(name, ".csv.gz"))
    lev <- file.path(BUNDLED_DIR, paste0(name, ".levels.json"))
  }
  if (!file.exists(csv)) stop("no data set ", name)
  con <- if (grepl("\\.gz$", csv)) gzfile(csv) else file(csv)
  df <- read.csv(con, check.names = FALSE, stringsAsFactors = FALSE, na.strings = "NA")
  meta <- fromJSON(lev, simplifyVector = TRUE)
  ordered_cols <- unlist(meta$ordered)
  for (col in names(meta$levels)) {
    levs <- as.character(unlist(meta$levels[[col]]))
    df[[col]] <- factor(as.character(df[[col]]), levels = levs,
                        ordered = col %in% ordered_cols)
  }
  df
}

## Write a data frame as tests/reference/data/NAME.csv + NAME.levels.json (same format as the
## bundled sets: factors as quoted strings, "NA" for missing, logicals as TRUE/FALSE), then read
## it back with load_data() so that R fits exactly what lmerpy will read.
save_data <- function(df, name) {
  dir.create(DATA_DIR, showWarnings = FALSE, recursive = TRUE)
  write.csv(df, file.path(DATA_DIR, paste0(name, ".csv")), row.names = FALSE, na = "NA")
  facs <- names(df)[vapply(df, is.factor, TRUE)]
  levels_list <- setNames(lapply(facs, function(f) I(levels(df[[f]]))), facs)
  meta <- list(levels = if (length(levels_list)) levels_list else setNames(list(), character(0)),
               ordered = I(names(df)[vapply(df, is.ordered, TRUE)]))
  writeLines(toJSON(meta, auto_unbox = TRUE, pretty = TRUE),
             file.path(DATA_DIR, paste0(name, ".levels.json")))
  load_data(name)
}

## Write a data frame as one of lmerpy's bundled data sets, lmerpy/datasets/data/NAME.csv.gz +
## NAME.levels.json (factors as strings with R's levels, ordered factors listed), and read it
## back with load_data().
save_bundled_data <- function(df, name) {
  con <- gzfile(file.path(BUNDLED_DIR, paste0(name, ".csv.gz")), "w")
  write.csv(df, con, row.names = FALSE, na = "NA")
  close(con)
  facs <- names(df)[vapply(df, is.factor, TRUE)]
  meta <- list(levels = setNames(lapply(facs, function(f) I(levels(df[[f]]))), facs),
               ordered = I(names(df)[vapply(df, is.ordered, TRUE)]))
  writeLines(toJSON(meta, auto_unbox = TRUE, pretty = TRUE),
             file.path(BUNDLED_DIR, paste0(name, ".levels.json")))
  load_data(name)
}

## ---- JSON --------------------------------------------------------------------------------

## Arrays are wrapped in I() so that length-1 vectors stay JSON arrays.
arr <- function(x) if (is.null(x)) I(list()) else I(unname(as.vector(x)))
num_or_null <- function(x) {                 # -Inf / Inf / NA -> null (JSON has no infinities)
  x <- as.numeric(x)
  out <- as.list(x)
  out[!is.finite(x)] <- list(NULL)
  I(out)
}
rows <- function(m) {                        # matrix -> list of rows
  m <- as.matrix(m)
  lapply(seq_len(nrow(m)), function(i) arr(m[i, ]))
}
named <- function(x) as.list(setNames(as.numeric(x), names(x)))
triplets <- function(M) {                    # sparse matrix -> 0-based CSC triplets
  M <- as(M, "CsparseMatrix")
  M <- as(M, "generalMatrix")
  list(nrow = nrow(M), ncol = ncol(M),
       i = arr(M@i),
       j = arr(rep(seq_len(ncol(M)) - 1L, diff(M@p))),
       x = arr(as.numeric(M@x)))
}

write_case <- function(x, dir, id) {
  dir.create(dir, showWarnings = FALSE, recursive = TRUE)
  path <- file.path(dir, paste0(id, ".json"))
  writeLines(toJSON(x, digits = NA, auto_unbox = TRUE, null = "null", na = "null",
                    pretty = TRUE), path)
  kb <- file.size(path) / 1024
  if (kb > 400) warning(sprintf("%s is %.0f kB (> 400 kB)", path, kb))
  invisible(path)
}

## ---- tables and printed output ---------------------------------------------------------------

`%||%` <- function(a, b) if (is.null(a)) b else a

## An R table (anova data frame, coefficient matrix, confint matrix) as plain data: rownames,
## colnames, values (rows; -Inf/Inf/NA as null), preceded by its heading when it has one.
table_json <- function(tab) {
  m <- as.matrix(as.data.frame(tab))
  storage.mode(m) <- "double"
  out <- list(rownames = arr(rownames(tab)), colnames = arr(colnames(tab)),
              values = lapply(seq_len(nrow(m)), function(i) num_or_null(m[i, ])))
  h <- attr(tab, "heading")
  if (!is.null(h)) out <- c(list(heading = arr(sub("\n$", "", h))), out)
  out
}

## A data frame as plain columns (factors as strings, numbers with NA/Inf -> null), with its
## names: the tables of the toolkit goldens (emmeans, broom.mixed, performance).
frame_columns <- function(df) {
  df <- as.data.frame(df, stringsAsFactors = FALSE)
  out <- lapply(df, function(col) {
    if (is.factor(col)) col <- as.character(col)
    if (is.numeric(col)) return(num_or_null(col))
    I(as.list(ifelse(is.na(col), NA, col)))
  })
  list(names = I(names(df)), columns = out)
}

## What print(x) shows at width 80, as one string.
printed <- function(x) {
  old <- options(width = 80)
  on.exit(options(old))
  paste(capture.output(print(x)), collapse = "\n")
}

## A table (an anova table, ...) as table_json() gives it, followed by its printed text.
printed_table_json <- function(tab) c(table_json(tab), list(text = printed(tab)))

## Evaluate `expr`, collecting the texts of its warnings (all of them, in order) and muffling
## its warnings and messages: list(value, warnings).
collect_warnings <- function(expr) {
  warns <- character(0)
  value <- withCallingHandlers(expr, warning = function(w) {
    warns <<- c(warns, conditionMessage(w))
    invokeRestart("muffleWarning")
  }, message = function(m) invokeRestart("muffleMessage"))
  list(value = value, warnings = warns)
}

## ---- building calls ------------------------------------------------------------------------

## Contrasts for the `contrasts` key: one name applied to every unordered factor that the
## fixed-effects part of the formula uses (lme4 passes `contrasts` to model.matrix for X only).
contrasts_for_all <- function(name, formula, df) {
  if (is.null(name)) return(NULL)
  vars <- all.vars(lme4::nobars(formula)[[length(lme4::nobars(formula))]])
  facs <- vars[vars %in% names(df)]
  facs <- facs[vapply(facs, function(v) is.factor(df[[v]]) && !is.ordered(df[[v]]), TRUE)]
  if (!length(facs)) return(NULL)
  setNames(rep(list(name), length(facs)), facs)
}

## args$contrasts: per-variable names or user matrices (lists of rows) -> R objects.
contrasts_from_args <- function(spec) {
  if (is.null(spec)) return(NULL)
  lapply(spec, function(v) {
    if (is.character(v)) return(v)
    m <- do.call(rbind, lapply(v, as.numeric))
    m
  })
}

## A call object fn(formula, data = df, ...) evaluated in an environment holding `df`, so the
## printed summary says "Data: df" and weights/offset expressions are evaluated in the data.
make_call <- function(fn, formula, df, REML = NULL, weights = NULL, contrasts = NULL,
                      args = NULL, family = NULL) {
  cl <- call(fn, formula = formula, data = quote(df))
  if (!is.null(REML)) cl$REML <- REML
  if (!is.null(family)) cl$family <- str2lang(family)
  if (!is.null(weights)) cl$weights <- str2lang(weights)
  if (!is.null(args$offset_column)) cl$offset <- as.name(args$offset_column)
  ctr <- c(contrasts_for_all(contrasts, formula, df), contrasts_from_args(args$contrasts))
  if (length(ctr)) cl$contrasts <- ctr
  env <- new.env(parent = globalenv())
  env$df <- df
  list(call = cl, env = env)
}

## Evaluate, collecting warnings and messages (their texts, trailing newline stripped).
run_collect <- function(cl, env) {
  warns <- character(0)
  msgs <- character(0)
  t0 <- proc.time()[["elapsed"]]
  value <- tryCatch(
    withCallingHandlers(eval(cl, env),
      warning = function(w) {
        warns <<- c(warns, conditionMessage(w))
        invokeRestart("muffleWarning")
      },
      message = function(m) {
        msgs <<- c(msgs, sub("\n$", "", conditionMessage(m)))
        invokeRestart("muffleMessage")
      }),
    error = function(e) structure(list(message = conditionMessage(e)), class = "caught_error"))
  list(value = value, seconds = proc.time()[["elapsed"]] - t0,
       warnings = warns, messages = msgs)
}

## ---- design pieces -------------------------------------------------------------------------

theta_names_from_cnms <- function(cnms) {
  pfun <- lme4:::mkPfun()
  unname(unlist(mapply(pfun, names(cnms), cnms, SIMPLIFY = FALSE)))
}

## cnms with the names VarCorr prints (a factor used twice becomes g, g.1).
cnms_json <- function(cnms) {
  setNames(lapply(cnms, arr), make.unique(names(cnms), sep = "."))
}

contrasts_json <- function(ctr) {
  if (is.null(ctr)) return(NULL)
  lapply(ctr, function(v) {
    if (is.character(v)) return(v)
    list(matrix = rows(v), colnames = if (is.null(colnames(v))) NULL else arr(colnames(v)))
  })
}

## X, Zt, Lambdat, Lind, ... as in the existing goldens' `design` block.
design_json <- function(X, reTrms, extra = TRUE) {
  flist <- reTrms$flist
  out <- list(
    X_colnames = arr(colnames(X)),
    X = rows(unname(X)),
    Zt = triplets(reTrms$Zt),
    Zt_rownames = arr(rownames(reTrms$Zt)),
    Lambdat = triplets(reTrms$Lambdat),
    Lind = arr(reTrms$Lind),
    lower = num_or_null(reTrms$lower),
    cnms = cnms_json(reTrms$cnms),
    flist_names = arr(names(flist)))
  if (extra) {
    out$theta_names <- arr(theta_names_from_cnms(reTrms$cnms))
    out$theta0 <- arr(reTrms$theta)
    out$Gp <- arr(reTrms$Gp)
    out$nl <- as.list(setNames(as.numeric(reTrms$nl), make.unique(names(reTrms$cnms), sep = ".")))
    out$flist_assign <- arr(attr(flist, "assign"))
    out$flist_levels <- lapply(flist, function(f) arr(levels(f)))
    out$X_assign <- arr(attr(X, "assign"))
    out$X_contrasts <- contrasts_json(attr(X, "contrasts"))
  }
  out
}

## ---- fitted-model pieces -----------------------------------------------------------------

varcorr_json <- function(fit) {
  vc <- as.data.frame(VarCorr(fit))
  lapply(seq_len(nrow(vc)), function(i) list(
    grp = vc$grp[i],
    var1 = ifelse(is.na(vc$var1[i]), "", vc$var1[i]),
    var2 = ifelse(is.na(vc$var2[i]), "", vc$var2[i]),
    vcov = vc$vcov[i], sdcor = vc$sdcor[i]))
}

ranef_json <- function(fit) {
  re <- ranef(fit, condVar = TRUE)
  long <- as.data.frame(re)
  out <- lapply(names(re), function(g) {
    m <- as.matrix(re[[g]])
    sub <- long[long$grpvar == g, ]
    sd <- matrix(NA_real_, nrow(m), ncol(m))
    for (k in seq_len(ncol(m))) {
      s <- sub[sub$term == colnames(m)[k], ]
      sd[, k] <- s$condsd[match(rownames(m), as.character(s$grp))]
    }
    list(columns = arr(colnames(m)), levels = arr(rownames(m)),
         values = rows(unname(m)), condsd = rows(sd))
  })
  setNames(out, names(re))
}

summary_text <- function(fit) printed(summary(fit))

## ---- lmer / glmer fit goldens ----------------------------------------------------------------

## Messages lme4 signals while fitting that are about the design rather than convergence.
DESIGN_MESSAGE <- "^fixed-effect model matrix is rank deficient"

## Run a case's call (from make_call()) with run_collect(), stopping on an error; `seconds` is
## the first run's time, or for a quick fit (< 1 s) the least of three runs.
fit_timed <- function(id, mc) {
  r <- run_collect(mc$call, mc$env)
  if (inherits(r$value, "caught_error")) stop(id, ": ", r$value$message)
  if (r$seconds < 1) {
    for (k in 1:2) r$seconds <- min(r$seconds, run_collect(mc$call, mc$env)$seconds)
  }
  r
}

## `out` with what lme4 said about the design while fitting: expect_message (rank deficiency)
## and dropped_columns (the X columns it dropped).
with_design_notes <- function(out, fit, messages) {
  design_msgs <- grep(DESIGN_MESSAGE, messages, value = TRUE)
  if (length(design_msgs)) out$expect_message <- design_msgs[1]
  dropped <- attr(getME(fit, "X"), "col.dropped")
  if (!is.null(dropped)) out$dropped_columns <- arr(names(dropped))
  out
}

## A fit's estimates, in the goldens' key order: nobs, ngrps, fixef, se, vcov, theta,
## theta_names, sigma, varcorr.
estimates_json <- function(fit) {
  V <- as.matrix(vcov(fit))
  list(
    nobs = nobs(fit),
    ngrps = as.list(ngrps(fit)),
    fixef = named(fixef(fit)),
    se = named(setNames(sqrt(diag(V)), names(fixef(fit)))),
    vcov = rows(unname(V)),
    theta = arr(getME(fit, "theta")),
    theta_names = arr(names(getME(fit, "theta"))),
    sigma = sigma(fit),
    varcorr = varcorr_json(fit))
}

## A fit's `design` block: design_json() of its X and random-effects terms (without theta0),
## then y and the offset (when not all zero).
fit_design_json <- function(fit) {
  rt <- list(Zt = getME(fit, "Zt"), Lambdat = getME(fit, "Lambdat"),
             Lind = getME(fit, "Lind"), lower = getME(fit, "lower"), cnms = fit@cnms,
             flist = getME(fit, "flist"), Gp = getME(fit, "Gp"),
             nl = sapply(getME(fit, "flist"), nlevels)[attr(getME(fit, "flist"), "assign")])
  des <- design_json(getME(fit, "X"), rt)
  des$theta0 <- NULL
  des$y <- arr(getME(fit, "y"))
  off <- getME(fit, "offset")
  des$offset <- if (any(off != 0)) arr(off) else NULL
  des
}

## Finish a fit golden: R's fit time, warnings and convergence messages (from fit_timed()'s
## `r`); write it to dir/ID.json and print one line (log-likelihood `ll`, theta in a column
## `theta_width` characters wide).
write_fit_case <- function(out, dir, id, fit, r, ll, theta_width) {
  out$r_fit_seconds <- r$seconds
  out$r_warnings <- arr(r$warnings)
  out$r_messages <- arr(fit@optinfo$conv$lme4$messages)
  write_case(out, dir, id)
  cat(sprintf(paste0("%-26s logLik %12.4f  theta %-", theta_width, "s %s%s\n"), id, ll,
              paste(signif(getME(fit, "theta"), 4), collapse = " "),
              if (isSingular(fit)) "singular " else "",
              paste(c(r$warnings, setdiff(r$messages, r$warnings)), collapse = " | ")))
  invisible(out)
}
