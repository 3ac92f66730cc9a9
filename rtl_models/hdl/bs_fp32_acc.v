`timescale 1ns/1ps
// Block-scaling float32 accumulator step (docs/arithmetic-contract.md#pow2, steps 3-4), combinational:
//   S = P * 2^s exactly (P a signed integer block partial, s = ex + ew - 2; s < -126 flushes S to +0.0),
//   sum = fl32(acc + S) with IEEE round-to-nearest-even, subnormal results, overflow to +-inf.
// S is never rounded on its own: with |P| < 2^15 and s >= -126 it is an exact float32 or, at 2^128 and above,
// +-inf (as float32(ldexp(P, s)) would be), so the single rounding of the add is the only one.
// Both operands are normalized to m * 2^(e-23), m in [2^23, 2^24); the smaller is aligned with guard, round and
// sticky bits; after the add/subtract the result is normalized, denormalized below 2^-126, rounded, packed.
// NaN/inf follow x86 SSE (what numpy float32 gives on x86-64): a NaN acc is returned quieted; inf + -inf gives
// the default NaN 0xFFC00000.  scale_ovf flags s > 127 (the reference raises there).
module bs_fp32_add #(
    parameter integer PW = 16,        // width of the signed partial P
    parameter integer SW = 10         // width of the signed exponent sum s
) (
    input  wire [31:0]   acc,
    input  wire [PW-1:0] p,
    input  wire [SW-1:0] s,
    output reg  [31:0]   sum,
    output wire          scale_ovf
);
    localparam integer EXW = 13;      // internal signed exponent width
    localparam integer MW = PW - 1;   // magnitude bits of P (|P| < 2^MW; the block partials stay far below)
    /* verilator lint_off WIDTH */
    localparam signed [EXW-1:0] MSB_POS = MW - 1;
    /* verilator lint_on WIDTH */

    function automatic [4:0] lzc27;   // leading zeros of a 27-bit value (27 for zero)
        input [26:0] v;
        integer k;
        reg found;
        begin
            lzc27 = 5'd27;
            found = 1'b0;
            for (k = 26; k >= 0; k = k - 1) begin
                if (!found && v[k]) begin
                    /* verilator lint_off WIDTH */
                    lzc27 = 26 - k;
                    /* verilator lint_on WIDTH */
                    found = 1'b1;
                end
            end
        end
    endfunction

    wire signed [EXW-1:0] s_x = {{(EXW-SW){s[SW-1]}}, s};
    assign scale_ovf = s_x > 127;

    // ---- operand A: the float32 accumulator
    wire       sa = acc[31];
    wire [7:0] ea_f = acc[30:23];
    wire [22:0] fa = acc[22:0];
    wire a_nan = (ea_f == 8'hFF) && (fa != 23'd0);
    wire a_inf = (ea_f == 8'hFF) && (fa == 23'd0);
    wire a_zero = (ea_f == 8'd0) && (fa == 23'd0);
    wire [4:0] lza = lzc27({4'd0, fa});                    // subnormal: 4 + (leading zeros of fa) + ...
    wire [23:0] ma = (ea_f != 8'd0) ? {1'b1, fa} : ({1'b0, fa} << (lza - 5'd3));
    wire signed [EXW-1:0] ea = (ea_f != 8'd0) ? $signed({5'd0, ea_f}) - 127
                                              : -126 - $signed({8'd0, lza - 5'd3});

    // ---- operand B: the scaled partial S = P * 2^s
    wire       sb = p[PW-1];
    /* verilator lint_off UNUSEDSIGNAL */
    wire [PW-1:0] pabs = sb ? -p : p;
    /* verilator lint_on UNUSEDSIGNAL */
    wire [MW-1:0] mag = pabs[MW-1:0];
    wire b_zero = (mag == {MW{1'b0}}) || (s_x < -126);      // flush rule
    wire [4:0] lzb = lzc27({mag, {(27-MW){1'b0}}});         // leading zeros within the MW-bit magnitude
    /* verilator lint_off WIDTH */
    wire [23:0] mb = {mag, {(24-MW){1'b0}}} << lzb;
    /* verilator lint_on WIDTH */
    wire signed [EXW-1:0] eb = s_x + MSB_POS - $signed({8'd0, lzb});
    wire b_inf = !b_zero && (eb > 127);

    // ---- order by magnitude: X >= Y
    wire swap = a_zero || (eb > ea) || ((eb == ea) && (mb > ma));
    wire sx = swap ? sb : sa;
    wire sy = swap ? sa : sb;
    wire [23:0] mx = swap ? mb : ma;
    wire [23:0] my = swap ? (a_zero ? 24'd0 : ma) : mb;
    wire signed [EXW-1:0] ex = swap ? eb : ea;
    wire signed [EXW-1:0] ey = swap ? ea : eb;
    wire signed [EXW-1:0] dexp = ex - ey;
    wire [5:0] sh = (my == 24'd0 || dexp > 31) ? 6'd31 : dexp[5:0];

    // ---- align Y with guard/round/sticky
    wire [53:0] yw = {my, 3'b000, 27'd0} >> sh;
    wire [26:0] y27 = {yw[53:28], yw[27] | (|yw[26:0])};
    wire [27:0] x28 = {1'b0, mx, 3'b000};
    wire [27:0] r = (sx ^ sy) ? x28 - {1'b0, y27} : x28 + {1'b0, y27};

    // ---- normalize: leading one to bit 26
    wire [4:0] lzr = lzc27(r[26:0]);
    wire [26:0] rn = r[27] ? {r[27:2], r[1] | r[0]} : (r[26:0] << lzr);
    wire signed [EXW-1:0] en = r[27] ? ex + 1 : ex - $signed({8'd0, lzr});

    // ---- denormalize below 2^-126
    wire signed [EXW-1:0] dsh = -126 - en;
    wire [5:0] dn = (dsh > 31) ? 6'd31 : dsh[5:0];
    wire sub = en < -126;
    wire [53:0] dw = {rn, 27'd0} >> dn;
    wire [26:0] rd = sub ? {dw[53:28], dw[27] | (|dw[26:0])} : rn;
    wire signed [EXW-1:0] ed = sub ? -126 : en;

    // ---- round to nearest even and pack
    wire [23:0] keep = rd[26:3];
    wire up = rd[2] & (rd[1] | rd[0] | keep[0]);
    wire [24:0] m25 = {1'b0, keep} + {24'd0, up};
    wire carry = m25[24];
    wire [22:0] frac = carry ? m25[23:1] : m25[22:0];
    wire signed [EXW-1:0] ef = carry ? ed + 1 : ed;
    wire normal = carry | m25[23];
    wire signed [EXW-1:0] biased = ef + 127;
    wire ovf = normal && (biased > 254);

    always @* begin
        if (a_nan)
            sum = {acc[31:23], 1'b1, acc[21:0]};
        else if (a_inf && b_inf && (sa != sb))
            sum = 32'hFFC0_0000;
        else if (a_inf)
            sum = acc;
        else if (b_inf)
            sum = {sb, 8'hFF, 23'd0};
        else if (b_zero)
            sum = a_zero ? 32'd0 : acc;                     // -0 + +0 = +0
        else if (r == 28'd0)
            sum = 32'd0;                                     // exact cancellation rounds to +0
        else if (ovf)
            sum = {sx, 8'hFF, 23'd0};
        else
            sum = {sx, normal ? biased[7:0] : 8'd0, frac};
    end
endmodule

// Registered accumulator: acc <= fl32((first ? +0 : acc) + P * 2^s) when valid.
module bs_fp32_acc #(
    parameter integer PW = 16,
    parameter integer SW = 10
) (
    input  wire          clk,
    input  wire          rst,
    input  wire          valid,
    input  wire          first,
    input  wire [PW-1:0] p,
    input  wire [SW-1:0] s,
    output reg  [31:0]   acc,
    output wire          scale_ovf
);
    wire [31:0] nxt;
    bs_fp32_add #(.PW(PW), .SW(SW)) add (.acc(first ? 32'd0 : acc), .p(p), .s(s), .sum(nxt), .scale_ovf(scale_ovf));
    always @(posedge clk) begin
        if (rst) acc <= 32'd0;
        else if (valid) acc <= nxt;
    end
endmodule
