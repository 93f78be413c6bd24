"""The multinomial logit fitter of the missing-data step's imputation models (analysis/questions/missing.py)
and the draw of a class from its probabilities.

Hand-written because the imputation needs a ridge and case weights: statsmodels' MNLogit takes neither. The
ridge is a normal prior on each coefficient (the fit is the posterior mode), so that a group of three people
cannot separate and stall the imputation's sweeps; without it the fit equals MNLogit on people
(tests/test_referee.py).
"""
from __future__ import annotations

import numpy as np


def multinomial_fit(y: np.ndarray, x: np.ndarray, weight: np.ndarray, classes: int, ridge: float = 0.0,
                    max_iter: int = 100, start: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Multinomial logit of class y (0..classes-1, 0 the reference) on x (intercept included by the caller),
    by Newton-Raphson with case weights from `start` (zeros by default), each step halved while it lowers
    the penalised log-likelihood: (coefficients (p x classes-1), covariance of their flattening in column
    order). Stops when the log-likelihood no longer moves (relative 1e-12) or the step is below 1e-8."""
    n, p = x.shape
    k = classes - 1
    beta = np.zeros((p, k)) if start is None else start.copy()
    target = np.zeros((n, k))
    rows = np.flatnonzero(y > 0)
    target[rows, y[rows] - 1] = 1.0

    def terms(b):
        eta = np.column_stack([np.zeros(n), x @ b])
        eta -= eta.max(axis=1, keepdims=True)
        log_prob = eta - np.log(np.exp(eta).sum(axis=1, keepdims=True))
        loglik = float((weight * log_prob[np.arange(n), y]).sum() - ridge / 2 * (b ** 2).sum())
        return loglik, np.exp(log_prob)

    loglik, prob = terms(beta)
    for _ in range(max_iter):
        pk = prob[:, 1:]
        score = (x.T @ (weight[:, None] * (target - pk))).T.ravel() - ridge * beta.T.ravel()
        middle = weight[:, None, None] * (pk[:, :, None] * (np.eye(k)[None] - pk[:, None, :]))
        info = _information(x, middle) + ridge * np.eye(p * k)
        step = np.linalg.solve(info, score).reshape((k, p)).T
        for _ in range(30):
            new_loglik, new_prob = terms(beta + step)
            if new_loglik >= loglik - 1e-12 * abs(loglik):
                break
            step /= 2
        beta += step
        moved = abs(new_loglik - loglik)
        loglik, prob = new_loglik, new_prob
        if np.max(np.abs(step)) < 1e-8 or moved <= 1e-12 * (abs(loglik) + 1e-12):
            break
    pk = prob[:, 1:]
    middle = weight[:, None, None] * (pk[:, :, None] * (np.eye(k)[None] - pk[:, None, :]))
    return beta, np.linalg.inv(_information(x, middle) + ridge * np.eye(p * k))


SMALL_PRODUCT = 262_144  # m x n x k of a matrix product below which OpenBLAS runs it on one thread


def _information(x: np.ndarray, middle: np.ndarray) -> np.ndarray:
    """The multinomial information: block (a, b) is X' diag(middle[:, a, b]) X. Built block by block from
    products small enough for OpenBLAS to keep on one thread: on this project's shared 2-core machine the
    one large threaded product it replaces ran about nine times slower than the small ones."""
    n, p = x.shape
    k = middle.shape[1]
    rows = max(1, SMALL_PRODUCT // (p * p) - 1)
    info = np.zeros((k * p, k * p))
    for a in range(k):
        for b in range(a, k):
            block = np.zeros((p, p))
            for start in range(0, n, rows):
                part = x[start:start + rows]
                block += part.T @ (part * middle[start:start + rows, a, b][:, None])
            info[a * p:(a + 1) * p, b * p:(b + 1) * p] = block
            info[b * p:(b + 1) * p, a * p:(a + 1) * p] = block.T
    return info


def drawn_classes(linear: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Each row's class drawn from its multinomial probabilities (class 0 the reference, `linear` the other
    classes' linear predictors): the number of cumulative probabilities below the row's uniform `u`, capped
    at the last class. Column by column, with the arithmetic of a row-wise softmax and cumsum to the last bit
    (numpy sums a row of fewer than 8 values in order; a factor has at most 5 known groups): along rows of
    two to six values numpy's reductions were most of a large extract's imputation time."""
    columns = [np.zeros(len(linear))] + [linear[:, j] for j in range(linear.shape[1])]
    top = columns[0]
    for column in columns[1:]:
        top = np.maximum(top, column)
    exps = [np.exp(column - top) for column in columns]
    total = exps[0]
    for e in exps[1:]:
        total = total + e
    cumulative = exps[0] / total
    count = (cumulative < u).astype(np.int64)
    for e in exps[1:]:
        cumulative = cumulative + e / total
        count += cumulative < u
    return np.minimum(count, len(columns) - 1)
