package dev.nnc.ir.ops;

import dev.nnc.ir.Graph;
import dev.nnc.ir.Node;
import dev.nnc.ir.Shape;
import dev.nnc.ir.ShapeException;
import dev.nnc.ir.TensorType;
import java.util.List;

/**
 * A Winograd transform of image tiles (Lavin and Gray, "Fast Algorithms for Convolutional Neural
 * Networks", 2016), in one of two directions that are each other's adjoint. With {@code L} the
 * {@code p×q} matrix {@link #matrix()} (or its transpose), tiles start at rows
 * {@code th·stride − padTop} and columns {@code tw·stride − padLeft} of an
 * {@code height×width} image:
 *
 * <ul>
 *   <li>{@code winograd_tiles} reads a {@code q×q} window per tile and writes {@code L·d·Lᵀ}:
 *       {@code x[N, C, H, W] → V[p·p, C, N·TH·TW]} with
 *       {@code V[i·p+j, c, t] = Σ_{k,l<q} L[i][k]·L[j][l]·x[n, c, th·s+k−pt, tw·s+l−pl]} (zero
 *       outside the image); the tile-position-major layout makes each of the p² positions one
 *       GEMM operand;
 *   <li>{@code winograd_untiles} writes {@code L·m·Lᵀ} of each {@code q×q} tile onto its
 *       {@code p×p} window: {@code M[q·q, C, N·TH·TW] → y[N, C, H, W]}, overlapping windows summed,
 *       positions outside the image dropped.
 * </ul>
 *
 * A 3×3 convolution of stride 1 is, per tile, {@code Aᵀ[(G·g·Gᵀ) ⊙ (Bᵀ·d·B)]A}: {@code lower-conv}'s
 * Winograd lowerings build it from these ops and one batched matmul over the tile positions:
 *
 * <pre>
 *   %v = winograd_tiles[matrix=BT4, transposed=false, stride=4, pt=1, pl=1, th=14, tw=14, h=56, w=56](%x) : f32[36,64,196]
 *   %u = winograd_tiles[matrix=G4, transposed=false, stride=3, pt=0, pl=0, th=1, tw=1, h=3, w=3](%w)       : f32[36,64,64]
 *   %m = matmul[transA=true, transB=false](%u, %v)                                                       : f32[36,64,196]
 *   %y = winograd_untiles[matrix=AT4, transposed=false, stride=4, pt=0, pl=0, th=14, tw=14, h=56, w=56](%m) : f32[1,64,56,56]
 * </pre>
 *
 * Both directions are linear, so each one's gradient is the other with the transposed matrix
 * and the same tile geometry.
 */
public record Winograd(boolean toTiles, Matrix matrix, boolean transposed, int stride, int padTop, int padLeft,
    int tilesH, int tilesW, int height, int width) implements Op {

  /** The transform matrices of F(2×2, 3×3) and F(4×4, 3×3). */
  public enum Matrix {
    BT2(new double[][] {{1, 0, -1, 0}, {0, 1, 1, 0}, {0, -1, 1, 0}, {0, 1, 0, -1}}),
    G2(new double[][] {{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}}),
    AT2(new double[][] {{1, 1, 1, 0}, {0, 1, -1, -1}}),
    BT4(new double[][] {
        {4, 0, -5, 0, 1, 0},
        {0, -4, -4, 1, 1, 0},
        {0, 4, -4, -1, 1, 0},
        {0, -2, -1, 2, 1, 0},
        {0, 2, -1, -2, 1, 0},
        {0, 4, 0, -5, 0, 1}}),
    G4(new double[][] {
        {1.0 / 4, 0, 0},
        {-1.0 / 6, -1.0 / 6, -1.0 / 6},
        {-1.0 / 6, 1.0 / 6, -1.0 / 6},
        {1.0 / 24, 1.0 / 12, 1.0 / 6},
        {1.0 / 24, -1.0 / 12, 1.0 / 6},
        {0, 0, 1}}),
    AT4(new double[][] {
        {1, 1, 1, 1, 1, 0},
        {0, 1, -1, 2, -2, 0},
        {0, 1, 1, 4, 4, 0},
        {0, 1, -1, 8, -8, 1}}),
    /** G with its columns reversed: {@code GR·g·GRᵀ = G·flip(g)·Gᵀ}, the flipped filters of an input gradient. */
    GR2(reversedColumns(G2.rows)),
    GR4(reversedColumns(G4.rows));

    private final double[][] rows;

    Matrix(double[][] rows) {
      this.rows = rows;
    }

    private static double[][] reversedColumns(double[][] rows) {
      double[][] out = new double[rows.length][];
      for (int i = 0; i < rows.length; i++) {
        out[i] = new double[rows[i].length];
        for (int k = 0; k < rows[i].length; k++) {
          out[i][k] = rows[i][rows[i].length - 1 - k];
        }
      }
      return out;
    }

    /**
     * The input transform Bᵀ ({@code 'B'}), filter transform G ({@code 'G'}), G of the flipped
     * filter ({@code 'R'}) and output transform Aᵀ ({@code 'A'}) of F(m×m, 3×3).
     */
    public static Matrix of(char which, int m) {
      return valueOf((switch (which) {
        case 'B' -> "BT";
        case 'G' -> "G";
        case 'R' -> "GR";
        case 'A' -> "AT";
        default -> throw new IllegalArgumentException("no Winograd matrix '" + which + "'");
      }) + m);
    }
  }

  public Winograd {
    if (stride < 1 || tilesH < 1 || tilesW < 1 || height < 1 || width < 1 || padTop < 0 || padLeft < 0) {
      throw new ShapeException("winograd: stride, tiles and image size must be positive and padding not negative");
    }
  }

  /** {@code L[i][k]}: the matrix, or its transpose. */
  public double at(int i, int k) {
    return transposed ? matrix.rows[k][i] : matrix.rows[i][k];
  }

  /** Rows of {@code L}: the side of a transformed tile ({@code winograd_tiles}) or of an output window. */
  public int p() {
    return transposed ? matrix.rows[0].length : matrix.rows.length;
  }

  /** Columns of {@code L}: the side of a read window ({@code winograd_tiles}) or of an input tile. */
  public int q() {
    return transposed ? matrix.rows.length : matrix.rows[0].length;
  }

  /** Tiles per image. */
  public int tiles() {
    return tilesH * tilesW;
  }

  /** The same geometry in the other direction with the transposed matrix: this op's adjoint. */
  public Winograd adjoint() {
    return new Winograd(!toTiles, matrix, !transposed, stride, padTop, padLeft, tilesH, tilesW, height, width);
  }

  @Override
  public String mnemonic() {
    return toTiles ? "winograd_tiles" : "winograd_untiles";
  }

  @Override
  public String attributes() {
    return "matrix=" + matrix + ", transposed=" + transposed + ", stride=" + stride + ", pt=" + padTop + ", pl="
        + padLeft + ", th=" + tilesH + ", tw=" + tilesW + ", h=" + height + ", w=" + width;
  }

  @Override
  public int arity() {
    return 1;
  }

  @Override
  public TensorType infer(List<Node> in) {
    Shape x = in.get(0).shape();
    if (toTiles) {
      if (x.rank() != 4 || x.dim(2) != height || x.dim(3) != width) {
        throw new ShapeException("winograd_tiles expects an image [N, C, " + height + ", " + width + "], got " + x);
      }
      return TensorType.f32(Shape.of(p() * p(), x.dim(1), Math.multiplyExact(x.dim(0), tiles())));
    }
    if (x.rank() != 3 || x.dim(0) != q() * q() || x.dim(2) % tiles() != 0) {
      throw new ShapeException("winograd_untiles expects tiles [" + q() * q() + ", C, N·" + tiles() + "], got " + x);
    }
    return TensorType.f32(Shape.of(x.dim(2) / tiles(), x.dim(1), height, width));
  }

  /** Linear: the gradient is the adjoint applied to {@code dy}. */
  @Override
  public List<Node> gradients(Graph.Builder b, Node self, Node dy) {
    return List.of(b.add(adjoint(), dy));
  }
}
