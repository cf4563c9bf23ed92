"""Running the comparisons: the controller registry, evaluation, selection on validation seeds, reproduction,
the NMPC comparison, the results of chapter 7, and the speed benchmarks."""
