# Reference values for TestBinomialTail: P(X >= k) for X ~ Binomial(n, p).
# Run: Rscript internal/infer/testdata/binomial_tail.R
options(digits = 17)
cases <- list(c(100, 1, 0.001), c(10000, 10, 0.001), c(10000, 20, 0.001), c(1000, 3, 0.0005))
for (a in cases) {
  cat(sprintf("{%d, %d, %g, %.17g},\n", a[1], a[2], a[3], pbinom(a[2] - 1, a[1], a[3], lower.tail = FALSE)))
}
