"""Constraints: the sets that parameters and values must lie in, named and printed like torch's.

A distribution lists one constraint per parameter (`arg_constraints`, e.g. Normal's
scale is `positive`) and one for its values (`support`, e.g. Categorical's is the
integers 0..K-1). With validation on (the default, as in PyTorch), the constructor
checks the parameters and `log_prob` checks its value, and a violation is a
ValueError that names the constraint and shows the offending tensor.

`constraint.check(value)` is a bool tensor: False where `value` breaks the constraint.
"""


class Constraint:
    def __init__(self, name, check):
        self.name = name
        self._check = check

    def check(self, value):
        return self._check(value)

    def __repr__(self):
        return self.name


def greater_than(lower_bound):
    """x > lower_bound."""
    return Constraint(f"GreaterThan(lower_bound={lower_bound})", lambda x: x > lower_bound)


def interval(lower_bound, upper_bound):
    """lower_bound <= x <= upper_bound."""
    return Constraint(f"Interval(lower_bound={lower_bound}, upper_bound={upper_bound})",
                      lambda x: (x >= lower_bound) & (x <= upper_bound))


def integer_interval(lower_bound, upper_bound):
    """x is a whole number with lower_bound <= x <= upper_bound (a float tensor may hold one, e.g. 2.0)."""
    def check(x):
        inside = (x >= lower_bound) & (x <= upper_bound)
        if x.dtype.is_floating_point:
            in_range = x.where(inside, 0)          # only in-range values are converted to integers
            inside = inside & (in_range.long() == in_range)
        return inside
    return Constraint(f"IntegerInterval(lower_bound={lower_bound}, upper_bound={upper_bound})", check)


real = Constraint("Real()", lambda x: x == x)           # NaN is the one value that is not equal to itself
real_vector = Constraint("IndependentConstraint(Real(), 1)", real.check)
positive = greater_than(0.0)
unit_interval = interval(0.0, 1.0)
boolean = Constraint("Boolean()", lambda x: (x == 0) | (x == 1))
# probability vectors along the last dim: non-negative and summing to 1 (a NaN or an infinity fails both)
simplex = Constraint("Simplex()", lambda x: (x >= 0) & ((x.sum(-1, keepdim=True) - 1).abs() < 1e-6))
