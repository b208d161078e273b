# Writes the .npy/.npz fixtures of crates/experiments/tests/npy_files.rs with NumPy itself.
# Run: python3 make_fixtures.py (in this directory).
import numpy as np
from numpy.lib import format as npf

x = np.array([[0.1, -2.5e-300, 3.0], [1e300, -0.0, 7.25], [0.30000000000000004, 5e-324, -1.5],
              [2.0, 4.0, 8.0]], dtype=np.float64)
np.save("c_f64.npy", x)                                   # (4, 3) float64, C order
x32 = np.array([[0.1, -2.5, 3.0], [1e30, -0.0, 7.25], [0.3, 1e-40, -1.5], [2.0, 4.0, 8.0]],
               dtype=np.float32)
np.save("f_f32.npy", np.asfortranarray(x32))              # (4, 3) float32, Fortran order
np.save("be_f64.npy", x.astype(">f8"))                    # big-endian float64
np.save("img_f32.npy", np.arange(2 * 3 * 2 * 2, dtype=np.float32).reshape(2, 3, 2, 2) / 8)
with open("v2_f64.npy", "wb") as f:                       # format version 2.0
    npf.write_array(f, x, version=(2, 0))
with open("v3_f64.npy", "wb") as f:                       # format version 3.0
    npf.write_array(f, x, version=(3, 0))
np.save("i64.npy", np.arange(6, dtype=np.int64).reshape(3, 2))
np.save("nan_f64.npy", np.array([[1.0, np.nan], [2.0, 3.0]]))
np.save("one_d.npy", np.array([1.0, 2.0, 3.0]))
y = np.array([1.0, -1.0, 0.5, 2.0])
np.savez("train.npz", x=x, y=y)                           # stored members
np.savez_compressed("train_compressed.npz", x=np.asfortranarray(x), y=y.reshape(4, 1))
np.savez("train_no_y.npz", x=x, z=y)
print("numpy", np.__version__)
