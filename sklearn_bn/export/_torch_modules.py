"""The torch modules that ``to_torch`` builds and torch does not have.

``Exp`` (the output of a Poisson regressor), ``GhostBatchNorm1d`` and
``BatchRenorm1d``, which train as :class:`~sklearn_bn.GhostBatchNorm` and
:class:`~sklearn_bn.BatchRenorm` do. torch is optional: each class is made
on first use (:func:`torch_class`) and set as an attribute of this module
under its own name, so that pickle finds it again.
"""

from ..neural_network._normalization._batch_norm import ghost_batches


def _make_exp(torch):
    class Exp(torch.nn.Module):
        """``exp`` of the input: the output layer of a Poisson regressor."""

        def forward(self, input):
            return input.exp()

    return Exp


def _make_ghost_batch_norm1d(torch):
    class GhostBatchNorm1d(torch.nn.Module):
        """Ghost batch normalization (Hoffer, Hubara and Soudry, 2017).

        In training, the batch is cut into consecutive virtual batches of
        ``virtual_batch_size`` rows (a last one of fewer than ``max(2,
        virtual_batch_size / 2)`` rows joins the one before), and its
        ``batch_norm`` normalizes each on its own, updating its running
        statistics once per virtual batch, in order. In eval mode it is
        ``batch_norm``, with the running statistics.

        Parameters
        ----------
        num_features : int
            The number of units.
        virtual_batch_size : int, default=32
            The rows of each virtual batch.
        eps, momentum, dtype
            Those of the ``torch.nn.BatchNorm1d`` it holds, ``batch_norm``.
        """

        def __init__(
            self,
            num_features,
            virtual_batch_size=32,
            eps=1e-5,
            momentum=0.1,
            dtype=None,
        ):
            super().__init__()
            self.virtual_batch_size = virtual_batch_size
            self.batch_norm = torch.nn.BatchNorm1d(
                num_features, eps=eps, momentum=momentum, dtype=dtype
            )

        def forward(self, input):
            if not self.training:
                return self.batch_norm(input)
            chunks = ghost_batches(input.shape[0], self.virtual_batch_size)
            return torch.cat([self.batch_norm(input[chunk]) for chunk in chunks])

        def extra_repr(self):
            return f"virtual_batch_size={self.virtual_batch_size}"

    return GhostBatchNorm1d


def _make_batch_renorm1d(torch):
    class BatchRenorm1d(torch.nn.Module):
        """Batch renormalization (Ioffe, 2017), as Keras 3.15 trains it.

        In training::

            sigma_B = sqrt(var_B + eps)
            r = clip(sigma_B / s, 1 / r_max, r_max)
            d = clip((mean_B - renorm_mean) / s, -d_max, d_max)
            out = weight * (r * (x - mean_B) / sigma_B + d) + bias

        with ``s = max(renorm_std, sqrt(eps))``, ``var_B`` the batch's biased
        variance, and ``r`` and ``d`` detached from the graph. Then the
        running mean, ``running_std``, ``renorm_mean`` and ``renorm_std``
        take a step towards ``mean_B`` and ``sigma_B`` (weights ``momentum``
        and ``renorm_momentum``), and the running variance of ``batch_norm``
        becomes ``max(running_std ** 2 - eps, 0)``. In eval mode it is
        ``batch_norm``, the ``torch.nn.BatchNorm1d`` that holds ``weight``,
        ``bias`` and the inference statistics.

        Parameters
        ----------
        num_features : int
            The number of units.
        eps, momentum, dtype
            Those of ``batch_norm``; ``momentum`` weighs the new batch.
        renorm_momentum : float, default=0.1
            The weight of the new batch in ``renorm_mean`` and ``renorm_std``.
        r_max, d_max : float, default=3.0 and 5.0
            The clipping of ``r`` and ``d``.
        """

        def __init__(
            self,
            num_features,
            eps=1e-5,
            momentum=0.1,
            renorm_momentum=0.1,
            r_max=3.0,
            d_max=5.0,
            dtype=None,
        ):
            super().__init__()
            self.renorm_momentum, self.r_max, self.d_max = renorm_momentum, r_max, d_max
            self.batch_norm = torch.nn.BatchNorm1d(
                num_features, eps=eps, momentum=momentum, dtype=dtype
            )
            # Keras' names: moving_stddev, renorm_mean, renorm_stddev.
            self.register_buffer("running_std", torch.ones(num_features, dtype=dtype))
            self.register_buffer("renorm_mean", torch.zeros(num_features, dtype=dtype))
            self.register_buffer("renorm_std", torch.ones(num_features, dtype=dtype))

        def forward(self, input):
            batch_norm = self.batch_norm
            if not self.training:
                return batch_norm(input)
            eps = batch_norm.eps
            mean = input.mean(dim=0)
            centered = input - mean
            sigma = torch.sqrt((centered * centered).mean(dim=0) + eps)
            with torch.no_grad():
                divisor = self.renorm_std.clamp(min=eps**0.5)
                r = (sigma / divisor).clamp(1.0 / self.r_max, self.r_max)
                d = ((mean - self.renorm_mean) / divisor).clamp(-self.d_max, self.d_max)
                self._update(mean, sigma)
            out = centered / sigma * r + d
            return out * batch_norm.weight + batch_norm.bias

        def _update(self, mean, sigma):
            batch_norm = self.batch_norm
            momentum, renorm_momentum = batch_norm.momentum, self.renorm_momentum
            for running, batch, weight in [
                (batch_norm.running_mean, mean, momentum),
                (self.running_std, sigma, momentum),
                (self.renorm_mean, mean, renorm_momentum),
                (self.renorm_std, sigma, renorm_momentum),
            ]:
                running.copy_((1.0 - weight) * running + weight * batch)
            std = self.running_std
            batch_norm.running_var.copy_((std * std - batch_norm.eps).clamp(min=0))
            batch_norm.num_batches_tracked.add_(1)

        def extra_repr(self):
            return (
                f"renorm_momentum={self.renorm_momentum}, r_max={self.r_max}, "
                f"d_max={self.d_max}"
            )

    return BatchRenorm1d


_TORCH_CLASSES = {
    "Exp": _make_exp,
    "GhostBatchNorm1d": _make_ghost_batch_norm1d,
    "BatchRenorm1d": _make_batch_renorm1d,
}


def torch_class(name):
    """The torch module class ``name`` of this module, made on first use."""
    if name not in globals():
        import torch

        cls = _TORCH_CLASSES[name](torch)
        # Under this module's name, so that pickle finds it again.
        cls.__module__, cls.__qualname__ = __name__, name
        globals()[name] = cls
    return globals()[name]


def __getattr__(name):
    if name in _TORCH_CLASSES:
        return torch_class(name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
