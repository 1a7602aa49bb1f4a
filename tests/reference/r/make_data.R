# The extra data sets used by the goldens: written to tests/reference/data/NAME.csv +
# NAME.levels.json by save_data() (common.R).  Every set is deterministic (set.seed), and
# numbers are rounded to a few decimals so the CSV holds them exactly.
# Sourced by make_design_goldens.R and make_lmer_goldens.R (after common.R).

## Box, Hunter & Hunter (1978/2005) penicillin yields: 5 blends (blocks) x 4 treatments A-D.
make_bhh_penicillin <- function() {
  yield <- c(89, 88, 97, 94,
             84, 77, 92, 79,
             81, 87, 87, 85,
             87, 92, 89, 84,
             79, 81, 80, 88)
  df <- data.frame(
    blend = factor(rep(paste0("blend", 1:5), each = 4)),
    treat = factor(rep(c("A", "B", "C", "D"), times = 5)),
    yield = yield)
  save_data(df, "bhh_penicillin")
}

## A kitchen-sink frame for the design goldens (n = 120): every column type and name form.
make_synth_design <- function() {
  set.seed(20240101)
  N <- 120
  a <- factor(rep(paste0("A", 1:4), each = 30))                 # 4 levels
  b <- factor(rep(rep(paste0("b", 1:3), each = 10), 4))         # 3 within each a (labels reused)
  c <- factor(rep(rep(c("c1", "c2"), each = 5), 12))            # 2 within each a:b
  g <- factor(sprintf("G%02d", rep(1:12, times = 10)))          # 12 levels, 10 obs each
  g2 <- factor(paste0("S", sample(rep(1:6, 20))))              # 6 levels, crossed with g
  q5 <- factor(paste0("q", rep(1:5, 24)))                       # ordering quirk: 5 levels
  r10 <- factor(paste0("r", sample(rep(0:9, 12))))              #   10 levels
  s10 <- factor(paste0("s", sample(rep(0:9, 12))))              #   10 levels
  f <- factor(sample(rep(c("a", "b", "c"), 40)))
  h <- factor(sample(rep(c("lo", "hi"), 60)), levels = c("lo", "hi"))
  o <- factor(sample(rep(c("low", "mid", "high", "top"), 30)),
              levels = c("low", "mid", "high", "top"), ordered = TRUE)
  d <- factor(sample(rep(c("d1", "d2", "d3"), 40)))
  u <- factor(sample(c("p", "q", "r"), N, replace = TRUE), levels = c("p", "q", "r", "zz"))
  x <- round(rnorm(N), 3)
  z <- round(runif(N, 0, 10), 3)
  t <- round(runif(N, 1, 5), 3)
  w <- round(runif(N, 0.5, 2), 3)
  n <- sample(5:20, N, replace = TRUE)
  s <- rbinom(N, n, plogis(-0.3 + 0.5 * x))
  k <- sample(rep(1:5, 24))
  gnum <- rep(c(3, 7, 11, 20, 25, 31, 40, 52, 60, 75), 12)       # numeric grouping column
  lg <- sample(c(TRUE, FALSE), N, replace = TRUE)
  ch <- sample(c("red", "green", "blue"), N, replace = TRUE)
  ge <- rnorm(12, 0, 3)[as.integer(g)]
  y <- round(50 + 2 * x + 0.5 * z + c(a = 0, b = 1.5, c = -1)[as.character(f)] + ge +
             rnorm(N, 0, 2), 3)
  df <- data.frame(y = y, x = x, z = z, t = t, lt = round(log(t), 4), w = w, n = n, s = s,
                   f = f, h = h, o = o, d = d, u = u, k = k, g = g, g2 = g2, a = a, b = b,
                   c = c, q5 = q5, r10 = r10, s10 = s10, gnum = gnum, lg = lg, ch = ch,
                   check.names = FALSE, stringsAsFactors = FALSE)
  df[["my var"]] <- round(rnorm(N), 3)
  df[["x.dot"]] <- round(rnorm(N), 3)
  df$x2 <- 2 * df$x                                              # collinear with x
  df$f2 <- factor(c(a = "A", b = "B", c = "C")[as.character(df$f)])  # a relabelled copy of f
  df$one <- factor(rep("only", N))                              # a single level
  df$id <- factor(sprintf("id%03d", seq_len(N)))                # one level per row
  df$pair <- factor(sprintf("p%02d", rep(1:60, each = 2)))      # 2 rows per level
  save_data(df, "synth_design")
}

## Missing values (n = 40): NA in y, x, f (factor) and ch (character); ynan is all NA.
make_synth_na <- function() {
  set.seed(7)
  N <- 40
  g <- factor(sprintf("G%d", rep(1:8, 5)))
  f <- factor(sample(rep(c("a", "b"), 20)))
  x <- round(rnorm(N), 3)
  y <- round(10 + x + rnorm(8)[as.integer(g)] + rnorm(N, 0, 0.5), 3)
  ch <- sample(c("m", "n"), N, replace = TRUE)
  y[c(3, 17)] <- NA
  x[c(8, 17, 25)] <- NA
  f[c(12, 31)] <- NA
  ch[c(5)] <- NA
  df <- data.frame(y = y, x = x, f = f, ch = ch, g = g, ynan = NA_real_,
                   stringsAsFactors = FALSE)
  save_data(df, "synth_na")
}

## A small frame for `y ~ .` (n = 40).
make_synth_small <- function() {
  set.seed(11)
  N <- 40
  g <- factor(sprintf("G%d", rep(1:8, 5)))
  f <- factor(sample(rep(c("u", "v"), 20)))
  x <- round(rnorm(N), 3)
  y <- round(5 + x + rnorm(8)[as.integer(g)] + rnorm(N, 0, 0.5), 3)
  save_data(data.frame(y = y, x = x, f = f, g = g), "synth_small")
}

## Two-level nesting (n = 96): 8 a's, 3 b's inside each (labels b1-b3 reused), 4 rows per
## a:b cell; a fixed factor trt (3 levels) and a covariate x.
make_synth_nested <- function() {
  set.seed(42)
  a <- factor(rep(paste0("A", 1:8), each = 12))
  b <- factor(rep(rep(paste0("b", 1:3), each = 4), 8))
  trt <- factor(rep(c("ctl", "lo", "hi"), 32), levels = c("ctl", "lo", "hi"))
  x <- round(rnorm(96), 3)
  ea <- rnorm(8, 0, 2)[as.integer(a)]
  eab <- rnorm(24, 0, 1)[as.integer(interaction(b, a, lex.order = FALSE))]
  y <- round(10 + 0.8 * x + c(ctl = 0, lo = 0.5, hi = 1.5)[as.character(trt)] + ea + eab +
             rnorm(96, 0, 0.5), 3)
  save_data(data.frame(y = y, x = x, trt = trt, a = a, b = b), "synth_nested")
}

## Crossed subjects x items (n = 288): 24 subjects, 12 items, every pair once; cond varies
## within subject and within item.
make_synth_crossed <- function() {
  set.seed(2718)
  subj <- factor(sprintf("s%02d", rep(1:24, each = 12)))
  item <- factor(sprintf("i%02d", rep(1:12, times = 24)))
  cond <- factor(ifelse((as.integer(subj) + as.integer(item)) %% 2 == 0, "A", "B"))
  es <- rnorm(24, 0, 40)[as.integer(subj)]
  es_b <- rnorm(24, 0, 15)[as.integer(subj)]
  ei <- rnorm(12, 0, 25)[as.integer(item)]
  rt <- round(600 + 30 * (cond == "B") + es + es_b * (cond == "B") + ei +
              rnorm(288, 0, 50), 1)
  save_data(data.frame(rt = rt, cond = cond, subj = subj, item = item), "synth_crossed")
}

## Grouped data with random intercept and two slopes (n = 240): 20 groups x 12 rows; a
## balanced 3-level factor f within groups, an ordered dose, weights w and an offset off.
make_synth_groups <- function() {
  set.seed(314)
  G <- 20
  g <- factor(sprintf("g%02d", rep(1:G, each = 12)))
  f <- factor(rep(c("f1", "f2", "f3"), 80))
  dose <- factor(rep(rep(c("low", "med", "high", "max"), each = 3), G),
                 levels = c("low", "med", "high", "max"), ordered = TRUE)
  x <- round(rnorm(240), 3)
  z <- round(runif(240, -1, 1), 3)
  w <- round(runif(240, 0.5, 3), 3)
  off <- round(runif(240, 0, 2), 3)
  L <- matrix(c(2, 0, 0, 0.6, 1, 0, -0.4, 0.3, 0.8), 3, byrow = TRUE)  # Cholesky of Sigma_b
  B <- matrix(rnorm(3 * G), G) %*% t(L)
  gi <- as.integer(g)
  y <- round(20 + B[gi, 1] + (1.5 + B[gi, 2]) * x + (-1 + B[gi, 3]) * z +
             rnorm(240, 0, 1), 3)
  Ff <- matrix(rnorm(3 * G), G) %*% diag(c(1.5, 1, 2))            # per-group f effects
  yf <- round(10 + c(f1 = 0, f2 = 1, f3 = 2)[as.character(f)] + rnorm(G, 0, 1)[gi] +
              Ff[cbind(gi, as.integer(f))] + rnorm(240, 0, 1), 3)
  yd <- round(5 + c(low = 0, med = 0.7, high = 1.1, max = 1.3)[as.character(dose)] +
              rnorm(G, 0, 0.8)[gi] + rnorm(240, 0, 0.5), 3)
  yw <- round(3 + 0.5 * x + rnorm(G, 0, 1)[gi] + rnorm(240, 0, 1) / sqrt(w), 3)
  yo <- round(off + 1 + 0.3 * x + rnorm(G, 0, 0.7)[gi] + rnorm(240, 0, 0.4), 3)
  e <- rnorm(240, 0, 1)
  ys <- round(7 + 0.4 * x + e - ave(e, g), 3)                     # group means of noise removed
  df <- data.frame(y = y, yf = yf, yd = yd, yw = yw, yo = yo, ys = ys, x = x, z = z,
                   w = w, off = off, f = f, dose = dose, g = g)
  df$x2 <- 2 * df$x - 1                                          # collinear with x
  save_data(df, "synth_groups")
}

make_all_data <- function() {
  make_bhh_penicillin()
  make_synth_design()
  make_synth_na()
  make_synth_small()
  make_synth_nested()
  make_synth_crossed()
  make_synth_groups()
  invisible(TRUE)
}
