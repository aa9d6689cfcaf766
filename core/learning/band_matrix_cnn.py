"""The CNN of Cheng et al. (2023, section 3.2) for content inversion, in numpy: it trains in any QGIS install,
with nothing to add, and is exported as a plain ONNX graph.

The network as built: a pixel's n bands, standardised, copied n times into an n x n matrix (the paper's 4 x 4
band matrix for GF-2's four bands); a 2 x 2 convolution with 16 filters and ReLU; 2 x 2 max-pooling (a partial
window at the edge kept, as ceil mode); a dense layer of 32 with ReLU; dropout keeping 70 % while training; one
linear output. Adam at learning rate 0.001 (the paper's rate), batches of 256. Where the build departs from the
paper: the paper trains 5,000 iterations on all its samples; here 15 % of the training part is held back and
training stops when it has not improved for 20 epochs (at most 200), because a fixed count over-fits or
under-fits depending on the sample count; the paper does not give its filter or dense sizes (16 and 32 here).

Why numpy and not a deep-learning package: the network has about 1,000 weights; written out, forward and
backward pass take some 80 lines, train in seconds on a CPU, and spare every QGIS user an install of PyTorch
(CPU wheel about 200 MB, the default Linux wheel several GB with CUDA)."""
import numpy as np

from ..errors import InputError

AS_BUILT = ("The bands of a pixel, standardised, copied into an n x n band matrix (4 x 4 for GF-2); a 2 x 2 "
            "convolution (16 filters, ReLU); 2 x 2 max-pooling; a dense layer of 32 (ReLU); dropout keeping 70 % "
            "while training; one linear output; Adam at learning rate 0.001, batches of 256.")
DEVIATIONS = ("Departures from Cheng et al. (2023): they train 5,000 iterations; here 15 % of the training part is "
              "held back and training stops after 20 epochs without improvement (at most 200), since a fixed count "
              "over- or under-fits with the sample count. The paper gives no filter or dense sizes: 16 and 32 here. "
              "Written in numpy (core/band_matrix_cnn.py) so that it trains in any QGIS install.")
FILTERS, HIDDEN, KEEP = 16, 32, 0.7
LEARNING_RATE, BATCH, MAX_EPOCHS, PATIENCE, VALIDATION = 1e-3, 256, 200, 20, 0.15


class BandMatrixCnn:
    def __init__(self, seed=0):
        self.seed = seed

    # ---- the network ------------------------------------------------------------------------------------

    def _init(self, n_bands, rng):
        side = n_bands // 2  # n - 1 after the 2 x 2 convolution, halved rounding up by the max-pooling
        fan = [4, FILTERS * side * side, HIDDEN]
        self.w = {"conv": rng.normal(0, np.sqrt(2 / fan[0]), (4, FILTERS)), "conv_b": np.zeros(FILTERS),
                  "dense": rng.normal(0, np.sqrt(2 / fan[1]), (fan[1], HIDDEN)), "dense_b": np.zeros(HIDDEN),
                  "out": rng.normal(0, np.sqrt(1 / fan[2]), (HIDDEN, 1)), "out_b": np.zeros(1)}
        self.side = side

    def _forward(self, z, drop=None):
        """z: (n, bands) standardised. Returns the output (n,) and what the backward pass needs."""
        n, b = z.shape
        h = b - 1
        # The band matrix has every row equal to z, so each 2 x 2 window holds z[j], z[j + 1] twice over.
        window = np.stack([z[:, :-1], z[:, 1:], z[:, :-1], z[:, 1:]], axis=-1)  # (n, h, 4), the same for every row
        conv = window @ self.w["conv"] + self.w["conv_b"]  # (n, h, filters): one matrix row; all rows are equal
        act = np.maximum(conv, 0)
        s = self.side
        padded = np.full((n, 2 * s, FILTERS), -np.inf)
        padded[:, :h] = act
        pairs = padded.reshape(n, s, 2, FILTERS)
        pooled_cols = pairs.max(axis=2)  # (n, s, filters); pooling rows of equal rows changes nothing
        which = pairs.argmax(axis=2)
        pooled = np.repeat(pooled_cols[:, None], s, axis=1)  # (n, s rows, s cols, filters)
        flat = pooled.transpose(0, 3, 1, 2).reshape(n, -1)  # channel-major, as ONNX's Flatten of NCHW
        pre = flat @ self.w["dense"] + self.w["dense_b"]
        hidden = np.maximum(pre, 0)
        dropped = hidden * drop / KEEP if drop is not None else hidden
        out = dropped @ self.w["out"] + self.w["out_b"]
        return out[:, 0], (window, conv, which, flat, pre, drop, dropped)

    def _backward(self, err, cache):
        """Gradients of the mean squared error for err = output - target."""
        window, conv, which, flat, pre, drop, dropped = cache
        n, h = conv.shape[:2]
        s = self.side
        d_out = 2 * err[:, None] / n
        g = {"out": dropped.T @ d_out, "out_b": d_out.sum(axis=0)}
        d_hidden = (d_out @ self.w["out"].T) * (drop / KEEP if drop is not None else 1) * (pre > 0)
        g["dense"], g["dense_b"] = flat.T @ d_hidden, d_hidden.sum(axis=0)
        d_pooled = (d_hidden @ self.w["dense"].T).reshape(n, FILTERS, s, s).transpose(0, 2, 3, 1).sum(axis=1)
        d_pairs = np.zeros((n, s, 2, FILTERS))
        np.put_along_axis(d_pairs, which[:, :, None], d_pooled[:, :, None], axis=2)
        # Each pooled row routes its gradient to one of the equal conv rows: summed over rows above, it is the same.
        d_conv = d_pairs.reshape(n, 2 * s, FILTERS)[:, :h] * (conv > 0)
        g["conv"] = window.reshape(-1, 4).T @ d_conv.reshape(-1, FILTERS)
        g["conv_b"] = d_conv.sum(axis=(0, 1))
        return g

    # ---- training and prediction --------------------------------------------------------------------------

    def fit(self, x, y):
        rng = np.random.default_rng(self.seed)
        x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
        if x.shape[1] < 2 or not (np.isfinite(x).all() and np.isfinite(y).all()):
            raise InputError("MODELS", "the CNN needs two bands or more and finite values to learn from.")
        val = rng.random(len(x)) < VALIDATION
        if val.all() or not val.any():
            val = np.zeros(len(x), bool)
        self.mean, self.std = x[~val].mean(axis=0), x[~val].std(axis=0) + 1e-9
        self.y_mean, self.y_std = float(y[~val].mean()), float(y[~val].std()) + 1e-12
        z, t = (x - self.mean) / self.std, (y - self.y_mean) / self.y_std
        self._init(x.shape[1], rng)
        moments = {k: (np.zeros_like(v), np.zeros_like(v)) for k, v in self.w.items()}
        best, best_w, waited, step = np.inf, None, 0, 0
        for _ in range(MAX_EPOCHS):
            order = rng.permutation(np.flatnonzero(~val))
            for start in range(0, len(order), BATCH):
                idx = order[start:start + BATCH]
                drop = (rng.random((len(idx), HIDDEN)) < KEEP).astype(np.float64)
                out, cache = self._forward(z[idx], drop)
                grads = self._backward(out - t[idx], cache)
                step += 1
                for k, grad in grads.items():  # Adam (Kingma & Ba 2015), default betas
                    m, v = moments[k]
                    m[:] = 0.9 * m + 0.1 * grad
                    v[:] = 0.999 * v + 0.001 * grad ** 2
                    self.w[k] -= LEARNING_RATE * (m / (1 - 0.9 ** step)) / (np.sqrt(v / (1 - 0.999 ** step)) + 1e-8)
            check = val if val.any() else ~val
            loss = float(np.mean((self._forward(z[check])[0] - t[check]) ** 2))
            if loss < best - 1e-12:
                best, best_w, waited = loss, {k: v.copy() for k, v in self.w.items()}, 0
            else:
                waited += 1
                if waited >= PATIENCE:
                    break
        self.w = best_w
        return self

    def predict(self, x):
        z = (np.asarray(x, np.float64) - self.mean) / self.std
        return self._forward(z)[0] * self.y_std + self.y_mean

    # ---- export ---------------------------------------------------------------------------------------------

    def to_onnx(self):
        """The fitted network as an ONNX model: input 'pixels' [batch, bands, 1, 1], output 'content' [batch, 1]."""
        from onnx import TensorProto, helper, numpy_helper

        b = len(self.mean)
        f32 = np.float32
        conv_w = self.w["conv"].T.reshape(FILTERS, 1, 2, 2)  # window order (0,0), (0,1), (1,0), (1,1)
        consts = {"mean": self.mean.astype(f32), "std": self.std.astype(f32),
                  "flat_shape": np.array([-1, b], np.int64), "matrix_shape": np.array([-1, 1, 1, b], np.int64),
                  "repeats": np.array([1, 1, b, 1], np.int64), "conv_w": conv_w.astype(f32),
                  "conv_b": self.w["conv_b"].astype(f32), "dense": self.w["dense"].astype(f32),
                  "dense_b": self.w["dense_b"].astype(f32), "out": self.w["out"].astype(f32),
                  "out_b": self.w["out_b"].astype(f32), "y_std": np.array([self.y_std], f32),
                  "y_mean": np.array([self.y_mean], f32)}
        nodes = [helper.make_node("Reshape", ["pixels", "flat_shape"], ["flat_in"]),
                 helper.make_node("Sub", ["flat_in", "mean"], ["centred"]),
                 helper.make_node("Div", ["centred", "std"], ["z"]),
                 helper.make_node("Reshape", ["z", "matrix_shape"], ["row"]),
                 helper.make_node("Tile", ["row", "repeats"], ["matrix"]),
                 helper.make_node("Conv", ["matrix", "conv_w", "conv_b"], ["conv"], kernel_shape=[2, 2]),
                 helper.make_node("Relu", ["conv"], ["conv_act"]),
                 helper.make_node("MaxPool", ["conv_act"], ["pooled"], kernel_shape=[2, 2], strides=[2, 2],
                                  ceil_mode=1),
                 helper.make_node("Flatten", ["pooled"], ["features"], axis=1),
                 helper.make_node("Gemm", ["features", "dense", "dense_b"], ["pre"]),
                 helper.make_node("Relu", ["pre"], ["hidden"]),
                 helper.make_node("Gemm", ["hidden", "out", "out_b"], ["scaled"]),
                 helper.make_node("Mul", ["scaled", "y_std"], ["spread"]),
                 helper.make_node("Add", ["spread", "y_mean"], ["content"])]
        graph = helper.make_graph(
            nodes, "band_matrix_cnn",
            [helper.make_tensor_value_info("pixels", TensorProto.FLOAT, ["batch", b, 1, 1])],
            [helper.make_tensor_value_info("content", TensorProto.FLOAT, ["batch", 1])],
            initializer=[numpy_helper.from_array(v, k) for k, v in consts.items()])
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
        model.ir_version = 8
        return model
