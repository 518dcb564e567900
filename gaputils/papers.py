"""The papers' published numbers that the book sets beside its own (as quoted in the book's notes,
approx.; chapters 01 and 03)."""

# Keskar et al. (2017), Table 2, as quoted in the book's notes (approx.):
# network -> (data, SB test accuracy %, LB test accuracy %).
KESKAR_TABLE2 = {"F1": ("MNIST", 98.03, 97.81), "F2": ("TIMIT", 64.02, 59.45),
                 "C1": ("CIFAR-10", 80.04, 77.26), "C2": ("CIFAR-10", 89.24, 87.26),
                 "C3": ("CIFAR-100", 49.58, 46.45), "C4": ("CIFAR-100", 63.08, 57.81)}


# Keskar et al. (2017), Table 3 (approx.): epsilon-sharpness (%) in the full space at eps 1e-3,
# network -> (SB, LB).
KESKAR_TABLE3 = {"F1": (1.23, 205.14), "C1": (28.58, 707.23), "C2": (8.68, 925.32)}
