"""The differentiable ops. Each is a `Function` with `forward` and `backward` side by side.

elementwise.py  unary maps (exp, log, tanh, relu, ...) and dtype casts
binary.py       broadcasting two-input maps (+ - * / ** maximum minimum where)
reduce.py       sum, max/min, logsumexp
shape.py        reshape, permute, expand, repeat, pad, cat
indexing.py     __getitem__ with basic and advanced indices
matmul.py       batched matrix product
"""
