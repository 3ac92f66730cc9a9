`timescale 1ns/1ps
// Front end of the LUT dialect selector (docs/formats.md#block-exponent; spec: quant/blocks.py `block_exponent`,
// `intermediate_q`): one block of 32 finite float32 values -> the shared block exponent e, 32 five-bit
// intermediates q (quarter-units) and 32 signs, packed exactly as lut_selector's in_q / in_sign.
//
//   e   = max(floor(log2(amax)) - 2, -127)      (all-zero block: -127)
//   q_i = min(31, floor(|x_i| * 2^(2-e) + 0.5))  (exact, ties round up)
//
// Why this is small: every amax below 2^-125 (biased exponent 0 or 1, subnormals included) clamps e to -127, so
// e depends only on the largest biased exponent field (the amax tree runs over 8-bit exponent fields: for finite
// floats the exponent field of max|x| is the max of the exponent fields).  With Ea = max(max exponent field, 2) and
// Ei = max(exponent field of x_i, 1) and the 24-bit significand M_i, t_i = |x_i| * 2^(2-e) = M_i * 2^-(19+d) with
// d = Ea - Ei >= 0; so q_i = ((M_i >> (18+d)) + 1) >> 1 saturated to 31: only M_i[23:18] matters (d >= 6 gives 0).
// out_zero flags a block whose 32 elements are all +-0: the reference encodes exactly those blocks as dialect 0
// (quant/reference_backend.py `select_encode`), which q cannot tell apart from a nonzero block below 2^-130 (q all 0).
// Combinational (latency 0); the consumer registers it (lut_selector samples in_q/in_sign on acceptance).
module q_frontend (
    input  wire [32*32-1:0]  in_x,         // float32 element i in bits [32i+31:32i]; finite values only; fraction
                                           // bits [17:0] never decide q (see above), only out_zero
    output wire signed [7:0] out_exp,      // e, -127 .. 125
    output wire [32*5-1:0]   out_q,        // element i in bits [5i+4:5i]
    output wire [31:0]       out_sign,     // x_i[31] (-0.0 keeps its sign; its q is 0)
    output wire              out_zero      // every x_i is +0.0 or -0.0
);
    localparam integer N = 32;

    wire [N-1:0] nonzero;

    // amax tree over the exponent fields
    wire [N*8-1:0] exps;
    wire [7:0]     emax;
    genvar i;
    generate
        for (i = 0; i < N; i = i + 1) begin : ex
            assign exps[i*8 +: 8] = in_x[i*32+23 +: 8];
        end
    endgenerate
    max_tree #(.N(N), .W(8)) amax_exp (.in(exps), .max(emax));

    wire       clamp = emax < 8'd2;                         // amax < 2^-125: e clamps to MIN_EXP
    wire [7:0] ea = clamp ? 8'd2 : emax;
    assign out_exp = clamp ? -8'sd127 : $signed(emax + 8'd127);  // emax - 129 mod 256

    generate
        for (i = 0; i < N; i = i + 1) begin : lane
            wire [7:0] be = in_x[i*32+23 +: 8];
            wire       normal = be != 8'd0;
            wire [7:0] ei = normal ? be : 8'd1;
            wire [7:0] d = ea - ei;                             // >= 0: |x_i| <= amax
            wire [5:0] top = {normal, in_x[i*32+18 +: 5]};      // M_i[23:18]; M_i[17:0] never decide q
            wire [5:0] r = (d < 8'd6) ? (top >> d[2:0]) : 6'd0; // floor(M_i / 2^(18+d))
            /* verilator lint_off UNUSEDSIGNAL */
            wire [6:0] r1 = {1'b0, r} + 7'd1;                   // bit 0 dropped by the halving
            /* verilator lint_on UNUSEDSIGNAL */
            wire [5:0] qh = r1[6:1];                            // round half up: 0 .. 32
            assign out_q[i*5 +: 5] = qh[5] ? 5'd31 : qh[4:0];
            assign out_sign[i] = in_x[i*32+31];
            assign nonzero[i] = |in_x[i*32 +: 31];
        end
    endgenerate
    assign out_zero = ~|nonzero;
endmodule
