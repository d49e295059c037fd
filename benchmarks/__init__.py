"""Side-by-side speed comparisons of scorelib with bare torch and the libraries one would use instead:
``python -m benchmarks`` (see benchmarks/README.md). Never imported by the book or its tests' library code."""
