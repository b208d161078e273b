"""Type stubs of the sgntk package (its functions live in the extension module sgntk._sgntk)."""

import os
from typing import Dict, Literal, Optional, Tuple, Union, overload

import numpy as np
import numpy.typing as npt

__version__: str

ArrayLike = npt.ArrayLike
Float64Array = npt.NDArray[np.float64]
KernelKind = Literal["nngp", "ntk", "sgntk"]
Mode = Literal["sgl", "gd"]
Engine = Literal["auto", "fused", "lowrank", "explicit", "autodiff"]
Backend = Literal["flex", "ndarray", "wgpu"]

class Net:
    """A network: an MLP (``Net.mlp``) or any network description (``Net.from_toml``)."""

    @property
    def input_dim(self) -> int: ...
    @property
    def width(self) -> Optional[int]: ...
    @staticmethod
    def mlp(
        input_dim: int,
        *,
        activation: str,
        depth: int = 3,
        sigma_w: float = 1.0,
        sigma_b: float = 0.1,
        kappa: float = 1.0,
        width: Optional[int] = None,
    ) -> Net: ...
    @staticmethod
    def from_toml(text_or_path: Union[str, "os.PathLike[str]"]) -> Net: ...

def kernel(
    net: Net,
    x1: ArrayLike,
    x2: Optional[ArrayLike] = None,
    kind: KernelKind = "sgntk",
    surrogate: str = "erf-prime",
) -> Float64Array: ...
@overload
def predict(
    net: Net,
    x_train: ArrayLike,
    y_train: ArrayLike,
    x_test: ArrayLike,
    kind: KernelKind = "sgntk",
    surrogate: str = "erf-prime",
    time: float = ...,
    lr: float = 0.1,
    discrete: bool = False,
    return_cov: Literal[False] = False,
) -> Tuple[Float64Array, Float64Array]: ...
@overload
def predict(
    net: Net,
    x_train: ArrayLike,
    y_train: ArrayLike,
    x_test: ArrayLike,
    kind: KernelKind = "sgntk",
    surrogate: str = "erf-prime",
    time: float = ...,
    lr: float = 0.1,
    discrete: bool = False,
    *,
    return_cov: Literal[True],
) -> Tuple[Float64Array, Float64Array, Float64Array]: ...
def train(
    net: Net,
    x_train: ArrayLike,
    y_train: ArrayLike,
    x_test: ArrayLike,
    nets: int = 10,
    steps: int = 1000,
    lr: float = 0.1,
    mode: Mode = "sgl",
    surrogate: str = "erf-prime",
    seed: int = 0,
    engine: Engine = "auto",
    backend: Backend = "flex",
    progress: bool = True,
) -> Tuple[Float64Array, Float64Array]: ...
def empirical_kernel(
    net: Net,
    x1: ArrayLike,
    x2: Optional[ArrayLike] = None,
    kind: KernelKind = "sgntk",
    surrogate: str = "erf-prime",
    nets: int = 10,
    seed: int = 0,
    per_net: bool = False,
    backend: Backend = "flex",
    progress: bool = True,
) -> Float64Array: ...
def paper_task(
    figure: str = "3a",
    data: Literal["paper", "seeded"] = "paper",
    points: int = 15,
    grid: int = 100,
    seed: int = 2024,
) -> Dict[str, Float64Array]: ...
