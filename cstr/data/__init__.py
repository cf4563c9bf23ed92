"""The offline datasets: generation, the verified loader, the Minari export, and reproduction checks."""
