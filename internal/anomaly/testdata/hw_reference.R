# Reference one-step forecasts from R's stats::HoltWinters for the Holt-Winters
# accuracy test (TestHoltWintersMatchesR). Regenerate from this directory with
#   Rscript hw_reference.R
# It writes hw/<series>.csv (the series as backtest input) and hw_reference.csv.
#
# Protocol, identical to what `sentinel backtest` does: the first `train` rows
# (the larger of three periods and 60% of the rows) fit alpha, beta and gamma; the
# model is then run forward over the remaining rows with those parameters, and the
# mean absolute one-step error over the rows after training is reported.
series <- list(
  co2 = datasets::co2,
  nottem = datasets::nottem,
  log_AirPassengers = log(datasets::AirPassengers)
)
out <- data.frame()
for (name in names(series)) {
  x <- series[[name]]
  f <- frequency(x)
  n <- length(x)
  train <- max(3L * f, floor(0.6 * n))
  fit <- HoltWinters(ts(as.numeric(x)[1:train], frequency = f))
  # Start values depend only on the first two periods, so refitting the whole
  # series with the parameters fixed reproduces the training run and continues it.
  fwd <- HoltWinters(ts(as.numeric(x), frequency = f),
                     alpha = fit$alpha, beta = fit$beta, gamma = fit$gamma)
  xhat <- as.numeric(fitted(fwd)[, "xhat"])  # forecasts for rows f+1..n
  idx <- (train + 1):n
  err <- as.numeric(x)[idx] - xhat[idx - f]
  t0 <- as.POSIXct(sprintf("%04d-%02d-01", floor(time(x)[1]), round((time(x)[1] %% 1) * 12) + 1), tz = "UTC")
  ts_col <- format(seq(t0, by = "month", length.out = n), "%Y-%m-%dT%H:%M:%SZ", tz = "UTC")
  write.csv(data.frame(timestamp = ts_col, value = sprintf("%.10g", as.numeric(x))),
            file.path("hw", paste0(name, ".csv")), row.names = FALSE, quote = FALSE)
  out <- rbind(out, data.frame(series = name, period = f, rows = n, train = train,
                               alpha = unname(fit$alpha), beta = unname(fit$beta),
                               gamma = unname(fit$gamma), train_sse = fit$SSE,
                               mae = mean(abs(err))))
}
write.csv(out, "hw_reference.csv", row.names = FALSE, quote = FALSE)
print(out)
cat(R.version.string, "\n")
