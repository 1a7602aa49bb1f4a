# bench_long for the benchmark: the structured-covariance timing data of lme4 2.1's goldens.
#
#   Rscript benchmarks/bench_long.R N_SUBJECTS OUT_STEM
#
# Writes OUT_STEM.csv (no row names) and OUT_STEM.levels.json ({"levels": {...}, "ordered": []},
# the format of benchmarks/cases.py's write_csv) with gen_bench_long(N_SUBJECTS) — the generator
# of tests/reference/structured/make.R, taken from that file (parsed; only the definition of
# gen_bench_long is evaluated, so make.R's goldens are not rebuilt and lme4 2.1 is not needed).
# N_SUBJECTS = 1000 reproduces make.R's data/bench_long.csv.gz (n = 12,000); 5000 is the
# n = 60,000 set of timings.json, which is never stored in the repository.

args <- commandArgs(trailingOnly = TRUE)
if (length(args) != 2) stop("usage: Rscript bench_long.R N_SUBJECTS OUT_STEM")
ns <- as.integer(args[1])
if (is.na(ns) || ns < 1L) stop("N_SUBJECTS must be a positive integer, got ", args[1])
stem <- args[2]

here <- local({
  arg <- grep("^--file=", commandArgs(trailingOnly = FALSE), value = TRUE)
  dirname(normalizePath(sub("^--file=", "", arg[1])))
})
make_r <- file.path(here, "..", "tests", "reference", "structured", "make.R")
found <- FALSE
for (e in parse(make_r, keep.source = FALSE)) {
  if (is.call(e) && identical(e[[1]], as.name("<-")) && identical(e[[2]], as.name("gen_bench_long"))) {
    eval(e, envir = globalenv())
    found <- TRUE
  }
}
if (!found) stop("no definition of gen_bench_long in ", make_r)

df <- gen_bench_long(ns)
utils::write.csv(df, paste0(stem, ".csv"), row.names = FALSE)
facs <- names(df)[vapply(df, is.factor, TRUE)]
meta <- list(levels = stats::setNames(lapply(facs, function(f) I(levels(df[[f]]))), facs),
             ordered = I(character(0)))
writeLines(jsonlite::toJSON(meta, auto_unbox = TRUE), paste0(stem, ".levels.json"))
cat(nrow(df), "\n")
