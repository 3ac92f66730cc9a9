`timescale 1ns/1ps
// Output-stationary PE array that runs a whole block-quantized GEMM Y = X W^T from on-chip buffers.
//
// Buffers (preloaded through the ld_* port): X entries per (row m, block b) and W entries per (row n, block b),
// each {exponent (int8), dialect id, 32 packed 4-bit codes (element i in bits [4i+3:4i])}; results float32 in
// ymem[m * MAX_N + n], read back through rd_addr/rd_data.  cfg_k is K in elements.
//
// Two PE pipelines, chosen by the parameters:
//   PIPELINE = 2, LANES = 32 (gemm_pe): one 32-element block per PE per cycle; operand registers -> (P, s)
//     registers -> float32 accumulator.
//   PIPELINE = 4, LANES in {1, 2, 4, 8, 16, 32} (gemm_pe_lanes, the `edge` design's PE): LANES elements of K per
//     PE per cycle, a block over 32/LANES K-steps; (1) decode: edge decoders into the operand registers ->
//     (2) multiply: LANES 5x5-bit products -> (3) adder tree: their sum -> (4) block partial register P (integer
//     sum over the block's K-steps) feeding the block scaler + float32 accumulator.
// K is streamed in K-steps of LANES elements: steps = ceil(K / LANES); a lane group wholly beyond K is never fed
// (the quantizer's zero padding inside the last group decodes to 0).
//
// Decode at the array edge: each left-edge row and top-edge column decodes the LANES codes of its current K-step
// combinationally (LANES decoder_dialect, edge_decoders.v) into an operand word {exponent (int8), LANES 5-bit
// signed integers (-15..15, element i in bits [5i+4:5i])} before the first operand register; the PEs multiply
// plain 5-bit integers and never see a dialect id.  Decoding in the same cycle as the buffer read adds no cycle.
//
// Dataflow: tiles of ROWS x COLS outputs, row-tile major (tm outer, tn inner).  In tile cycle t the left edge of
// array row r presents X K-step t - r and the top edge of column c presents W K-step t - c (skew by addressing);
// operands move one PE right/down per cycle, so PE (r, c) holds K-step j in its operand registers during tile
// cycle j + r + c + 1 and updates its float32 accumulator at the end of cycle j + r + c + PIPELINE, for the last
// K-step of each block (the first block replaces the accumulator: acc = fl32(+0 + S)).
// Cycle count (exact): a tile takes steps + (ROWS-1) + (COLS-1) + PIPELINE compute cycles plus ROWS drain cycles
// (one array row of COLS results written per cycle), so
//     cycles = n_tiles * (steps + 2*ROWS + COLS - 2 + PIPELINE),
//     n_tiles = ceil(M/ROWS) * ceil(N/COLS),  steps = ceil(K/LANES),
// counted from the rising edge that samples start (exclusive) to the edge that raises done (inclusive).
// X-side flags travelling with each K-step: [0] block 0 (the accumulator restarts), [1] first K-step of a block
// (the partial register restarts), [2] last K-step of a block (the partial goes to the block scaler).
module gemm_pe #(
    parameter integer EW = 8 + 32*5      // operand word: {exponent, 32 decoded 5-bit integers}
) (
    input  wire          clk,
    input  wire          rst,
    input  wire          x_valid_in,
    input  wire [2:0]    x_flags_in,
    input  wire [EW-1:0] x_in,
    input  wire          w_valid_in,
    input  wire [EW-1:0] w_in,
    output reg           x_valid,
    output reg  [2:0]    x_flags,
    output reg  [EW-1:0] x,
    output reg           w_valid,
    output reg  [EW-1:0] w,
    output wire [31:0]   acc
);
    always @(posedge clk) begin
        if (rst) begin
            x_valid <= 1'b0;
            w_valid <= 1'b0;
        end else begin
            x_valid <= x_valid_in;
            w_valid <= w_valid_in;
        end
        x_flags <= x_flags_in;
        x <= x_in;
        w <= w_in;
    end

    wire [13:0] dot;
    block_dot_int5 bd (.a_values(x[32*5-1:0]), .b_values(w[32*5-1:0]), .sum(dot));

    // stage 2: block partial and exponent sum s = ex + ew - 2 (one K-step is a whole block: flags [1], [2] are 1)
    reg        p_valid, p_first;
    reg [15:0] p;
    reg [9:0]  s;
    wire [9:0] ex = {{2{x[EW-1]}}, x[EW-1 -: 8]};
    wire [9:0] ey = {{2{w[EW-1]}}, w[EW-1 -: 8]};
    always @(posedge clk) begin
        if (rst) p_valid <= 1'b0;
        else p_valid <= x_valid & w_valid;
        p_first <= x_flags[0];
        p <= {{2{dot[13]}}, dot};
        s <= ex + ey - 10'd2;
    end

    /* verilator lint_off UNUSEDSIGNAL */
    wire scale_ovf;                      // the reference raises on s > 127; the tests never drive it here
    /* verilator lint_on UNUSEDSIGNAL */
    bs_fp32_acc #(.PW(16), .SW(10)) accu (.clk(clk), .rst(rst), .valid(p_valid), .first(p_first), .p(p), .s(s),
                                          .acc(acc), .scale_ovf(scale_ovf));
endmodule

// The edge design's PE: LANES elements of K per cycle, 4 stages (see the file header).
module gemm_pe_lanes #(
    parameter integer LANES = 8,
    parameter integer EW = 8 + LANES*5   // operand word: {exponent, LANES decoded 5-bit integers}
) (
    input  wire          clk,
    input  wire          rst,
    input  wire          x_valid_in,
    input  wire [2:0]    x_flags_in,
    input  wire [EW-1:0] x_in,
    input  wire          w_valid_in,
    input  wire [EW-1:0] w_in,
    output reg           x_valid,
    output reg  [2:0]    x_flags,
    output reg  [EW-1:0] x,
    output reg           w_valid,
    output reg  [EW-1:0] w,
    output wire [31:0]   acc
);
    localparam integer PW = 9;                     // |product| <= 15 * 15 = 225
    localparam integer TW = PW + $clog2(LANES);    // exact tree sum; at most 14 bits (32 lanes, |sum| <= 7200)

    // stage 1 (decode): operand registers, loaded from the edge decoders or the neighbouring PE
    always @(posedge clk) begin
        if (rst) begin
            x_valid <= 1'b0;
            w_valid <= 1'b0;
        end else begin
            x_valid <= x_valid_in;
            w_valid <= w_valid_in;
        end
        x_flags <= x_flags_in;
        x <= x_in;
        w <= w_in;
    end

    // stage 2 (multiply): LANES signed 5x5-bit products, and s = ex + ew - 2
    wire [LANES*PW-1:0] prod_d;
    genvar i;
    generate
        for (i = 0; i < LANES; i = i + 1) begin : lane
            /* verilator lint_off UNUSEDSIGNAL */
            wire signed [9:0] pp = $signed(x[i*5 +: 5]) * $signed(w[i*5 +: 5]);
            /* verilator lint_on UNUSEDSIGNAL */
            assign prod_d[i*PW +: PW] = pp[PW-1:0];     // bit 9 is a sign copy
        end
    endgenerate
    reg                 m_valid;
    reg [2:0]           m_flags;
    reg [LANES*PW-1:0]  prod;
    reg [9:0]           m_s;
    wire [9:0] ex = {{2{x[EW-1]}}, x[EW-1 -: 8]};
    wire [9:0] ey = {{2{w[EW-1]}}, w[EW-1 -: 8]};
    always @(posedge clk) begin
        if (rst) m_valid <= 1'b0;
        else m_valid <= x_valid & w_valid;
        m_flags <= x_flags;
        prod <= prod_d;
        m_s <= ex + ey - 10'd2;
    end

    // stage 3 (adder tree): exact sum of the LANES products
    wire [TW-1:0] tsum_d;
    adder_tree #(.N(LANES), .W(PW), .SIGNED(1), .OW(TW)) tree (.in(prod), .sum(tsum_d));
    reg          t_valid;
    reg [2:0]    t_flags;
    reg [TW-1:0] tsum;
    reg [9:0]    t_s;
    always @(posedge clk) begin
        if (rst) t_valid <= 1'b0;
        else t_valid <= m_valid;
        t_flags <= m_flags;
        tsum <= tsum_d;
        t_s <= m_s;
    end

    // stage 4 (block scaler + accumulate): the block partial register P sums the block's K-steps exactly; after
    // the block's last K-step, P and s feed the block scaler and the float32 accumulator (updated this cycle)
    reg        p_valid, p_first;
    reg [15:0] p;
    reg [9:0]  s;
    wire [15:0] tsum16 = {{(16-TW){tsum[TW-1]}}, tsum};
    always @(posedge clk) begin
        if (rst) p_valid <= 1'b0;
        else p_valid <= t_valid & t_flags[2];
        if (t_valid) p <= (t_flags[1] ? 16'd0 : p) + tsum16;
        p_first <= t_flags[0];
        s <= t_s;
    end

    /* verilator lint_off UNUSEDSIGNAL */
    wire scale_ovf;
    /* verilator lint_on UNUSEDSIGNAL */
    bs_fp32_acc #(.PW(16), .SW(10)) accu (.clk(clk), .rst(rst), .valid(p_valid), .first(p_first), .p(p), .s(s),
                                          .acc(acc), .scale_ovf(scale_ovf));
endmodule

module pe_array_gemm #(
    parameter integer ROWS = 4,
    parameter integer COLS = 4,
    parameter integer LANES = 32,                 // elements of K per PE per cycle
    parameter integer PIPELINE = 2,               // PE stages: 2 (gemm_pe, LANES = 32) or 4 (gemm_pe_lanes)
    parameter integer D = 16,
    parameter integer ID_BITS = 4,
    parameter integer MAX_M = 16,
    parameter integer MAX_N = 16,
    parameter integer MAX_NB = 8,
    parameter integer EW = 128 + ID_BITS + 8,     // buffer word: {exponent, dialect id, 32 codes}
    parameter integer OW = 8 + LANES*5,           // operand word after the edge decoders
    parameter integer LAW = $clog2((MAX_M > MAX_N ? MAX_M : MAX_N) * MAX_NB),
    parameter integer RAW = $clog2(MAX_M * MAX_N)
) (
    input  wire           clk,
    input  wire           rst,
    input  wire           ld_we,
    input  wire           ld_w,         // 0: X buffer, 1: W buffer
    input  wire [LAW-1:0] ld_addr,      // row * MAX_NB + block
    input  wire [EW-1:0]  ld_data,
    input  wire [15:0]    cfg_m,
    input  wire [15:0]    cfg_n,
    input  wire [15:0]    cfg_k,        // K in elements
    input  wire           start,
    output reg            busy,
    output reg            done,
    input  wire [RAW-1:0] rd_addr,
    output wire [31:0]    rd_data
);
    localparam [1:0] IDLE = 2'd0, COMPUTE = 2'd1, DRAIN = 2'd2;
    localparam integer G = 32 / LANES;            // K-steps per block
    localparam integer LG = $clog2(G);
    localparam integer LL = $clog2(LANES);

    reg [EW-1:0] xmem [0:MAX_M*MAX_NB-1];
    reg [EW-1:0] wmem [0:MAX_N*MAX_NB-1];
    reg [31:0]   ymem [0:MAX_M*MAX_N-1];
    assign rd_data = ymem[rd_addr];

    always @(posedge clk) begin
        if (ld_we && !ld_w) xmem[ld_addr] <= ld_data;
        if (ld_we && ld_w) wmem[ld_addr] <= ld_data;
    end

    generate
        if (D != (1 << ID_BITS)) begin : bad_params
            pe_array_needs_D_equal_2_pow_ID_BITS mismatch ();
        end
        if (LANES < 1 || LANES > 32 || (1 << LL) != LANES) begin : bad_lanes
            pe_array_needs_LANES_a_power_of_two_dividing_32 mismatch ();
        end
        if (!(PIPELINE == 4 || (PIPELINE == 2 && LANES == 32))) begin : bad_pipeline
            pe_array_needs_PIPELINE_4_or_PIPELINE_2_with_LANES_32 mismatch ();
        end
    endgenerate

    localparam [15:0] ROWS16 = ROWS[15:0];
    localparam [15:0] COLS16 = COLS[15:0];
    localparam [15:0] TAIL16 = ROWS16 + COLS16 + PIPELINE[15:0] - 16'd3;   // last compute cycle of a tile - steps
    reg [1:0]  state;
    reg [15:0] t, m0, n0, m_r, n_r, k_r;
    reg [15:0] dr;
    /* verilator lint_off WIDTH */
    wire [15:0] steps = (k_r + LANES - 1) >> LL;
    /* verilator lint_on WIDTH */

    // ---- edges: skewed operand reads of the current K-step's lane group, decoded in the same cycle
    wire [ROWS-1:0]    xv_edge;
    wire [ROWS*3-1:0]  xf_edge;
    wire [ROWS*OW-1:0] x_edge;
    wire [COLS-1:0]    wv_edge;
    wire [COLS*OW-1:0] w_edge;
    genvar r, c, i;
    generate
        for (r = 0; r < ROWS; r = r + 1) begin : xedge
            /* verilator lint_off WIDTH */
            /* verilator lint_off UNSIGNED */
            wire [15:0] j = t - r;
            wire [15:0] b = j >> LG;
            wire [15:0] g = j & (G - 1);
            wire [15:0] m = m0 + r;
            wire [EW-1:0] word = xmem[(m * MAX_NB + b) % (MAX_M * MAX_NB)];
            wire [LANES*4-1:0] grp = word[127:0] >> (g * LANES * 4);   // this K-step's lane group
            assign xv_edge[r] = (state == COMPUTE) && (t >= r) && (j < steps) && (m < m_r);
            assign xf_edge[r*3 +: 3] = {(g == G - 1) || (j == steps - 16'd1), g == 16'd0, b == 16'd0};
            /* verilator lint_on UNSIGNED */
            /* verilator lint_on WIDTH */
            assign x_edge[r*OW + LANES*5 +: 8] = word[EW-1 -: 8];
            for (i = 0; i < LANES; i = i + 1) begin : dec
                decoder_dialect #(.D(D), .ID_BITS(ID_BITS)) d (.dialect(word[128 +: ID_BITS]), .code(grp[i*4 +: 4]),
                                                              .value(x_edge[r*OW + i*5 +: 5]));
            end
        end
        for (c = 0; c < COLS; c = c + 1) begin : wedge
            /* verilator lint_off WIDTH */
            /* verilator lint_off UNSIGNED */
            wire [15:0] j = t - c;
            wire [15:0] b = j >> LG;
            wire [15:0] g = j & (G - 1);
            wire [15:0] n = n0 + c;
            wire [EW-1:0] word = wmem[(n * MAX_NB + b) % (MAX_N * MAX_NB)];
            wire [LANES*4-1:0] grp = word[127:0] >> (g * LANES * 4);   // this K-step's lane group
            assign wv_edge[c] = (state == COMPUTE) && (t >= c) && (j < steps) && (n < n_r);
            /* verilator lint_on UNSIGNED */
            /* verilator lint_on WIDTH */
            assign w_edge[c*OW + LANES*5 +: 8] = word[EW-1 -: 8];
            for (i = 0; i < LANES; i = i + 1) begin : dec
                decoder_dialect #(.D(D), .ID_BITS(ID_BITS)) d (.dialect(word[128 +: ID_BITS]), .code(grp[i*4 +: 4]),
                                                              .value(w_edge[c*OW + i*5 +: 5]));
            end
        end
    endgenerate

    // ---- the array: xs[r][c] is the X operand entering PE (r, c); ws[r][c] the W operand
    // (the right-most X and bottom W outputs leave the array unused)
    /* verilator lint_off UNUSEDSIGNAL */
    wire [ROWS*(COLS+1)-1:0]    xs_v;
    wire [ROWS*(COLS+1)*3-1:0]  xs_f;
    wire [ROWS*(COLS+1)*OW-1:0] xs;
    wire [(ROWS+1)*COLS-1:0]    ws_v;
    wire [(ROWS+1)*COLS*OW-1:0] ws;
    /* verilator lint_on UNUSEDSIGNAL */
    wire [ROWS*COLS*32-1:0]     accs;
    generate
        for (r = 0; r < ROWS; r = r + 1) begin : row
            assign xs_v[r*(COLS+1)] = xv_edge[r];
            assign xs_f[r*(COLS+1)*3 +: 3] = xf_edge[r*3 +: 3];
            assign xs[r*(COLS+1)*OW +: OW] = x_edge[r*OW +: OW];
            for (c = 0; c < COLS; c = c + 1) begin : col
                localparam integer XI = r*(COLS+1) + c;     // X input index; XI + 1 is its output
                localparam integer WI = r*COLS + c;         // W input index; WI + COLS is its output
                if (r == 0) begin : top
                    assign ws_v[c] = wv_edge[c];
                    assign ws[c*OW +: OW] = w_edge[c*OW +: OW];
                end
                if (PIPELINE == 2) begin : compact
                    gemm_pe #(.EW(OW)) pe (
                        .clk(clk), .rst(rst),
                        .x_valid_in(xs_v[XI]), .x_flags_in(xs_f[XI*3 +: 3]), .x_in(xs[XI*OW +: OW]),
                        .w_valid_in(ws_v[WI]), .w_in(ws[WI*OW +: OW]),
                        .x_valid(xs_v[XI+1]), .x_flags(xs_f[(XI+1)*3 +: 3]), .x(xs[(XI+1)*OW +: OW]),
                        .w_valid(ws_v[WI+COLS]), .w(ws[(WI+COLS)*OW +: OW]),
                        .acc(accs[WI*32 +: 32]));
                end else begin : lanes
                    gemm_pe_lanes #(.LANES(LANES), .EW(OW)) pe (
                        .clk(clk), .rst(rst),
                        .x_valid_in(xs_v[XI]), .x_flags_in(xs_f[XI*3 +: 3]), .x_in(xs[XI*OW +: OW]),
                        .w_valid_in(ws_v[WI]), .w_in(ws[WI*OW +: OW]),
                        .x_valid(xs_v[XI+1]), .x_flags(xs_f[(XI+1)*3 +: 3]), .x(xs[(XI+1)*OW +: OW]),
                        .w_valid(ws_v[WI+COLS]), .w(ws[(WI+COLS)*OW +: OW]),
                        .acc(accs[WI*32 +: 32]));
                end
            end
        end
    endgenerate

    // ---- controller
    wire [15:0] t_last = steps + TAIL16;
    wire last_tile = (m0 + ROWS16 >= m_r) && (n0 + COLS16 >= n_r);
    integer k;
    always @(posedge clk) begin
        if (rst) begin
            state <= IDLE;
            busy <= 1'b0;
            done <= 1'b0;
        end else begin
            case (state)
                IDLE: if (start) begin
                    m_r <= cfg_m; n_r <= cfg_n; k_r <= cfg_k;
                    m0 <= 16'd0; n0 <= 16'd0; t <= 16'd0;
                    busy <= 1'b1; done <= 1'b0;
                    state <= COMPUTE;
                end
                COMPUTE: begin
                    t <= t + 16'd1;
                    if (t == t_last) begin
                        state <= DRAIN;
                        dr <= 16'd0;
                    end
                end
                DRAIN: begin
                    /* verilator lint_off WIDTH */
                    for (k = 0; k < COLS; k = k + 1)
                        if (m0 + dr < m_r && n0 + k < n_r)
                            ymem[((m0 + dr) * MAX_N + n0 + k) % (MAX_M * MAX_N)] <= accs[(dr * COLS + k) * 32 +: 32];
                    /* verilator lint_on WIDTH */
                    dr <= dr + 16'd1;
                    if (dr == ROWS16 - 16'd1) begin
                        t <= 16'd0;
                        if (last_tile) begin
                            state <= IDLE;
                            busy <= 1'b0;
                            done <= 1'b1;
                        end else begin
                            state <= COMPUTE;
                            if (n0 + COLS16 >= n_r) begin
                                n0 <= 16'd0;
                                m0 <= m0 + ROWS16;
                            end else begin
                                n0 <= n0 + COLS16;
                            end
                        end
                    end
                end
                default: state <= IDLE;
            endcase
        end
    end
endmodule
