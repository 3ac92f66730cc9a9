`timescale 1ns/1ps
// NVFP4 block scaler + float32 accumulator step, bit-identical to quant's NVFP4 accumulation (quant/gemm.py,
// float-scaled formats): S = fl32(fl32(float32(P) * sx) * sw), acc' = fl32(acc + S), IEEE round-to-nearest-even.
// The tensor scale is not applied here: quant multiplies the finished accumulator once per output,
// y = fl32(acc * fl32(fl32(gx * gw) * ux * uw)), a float32 multiply outside this block.
//
// Why S needs no rounding: P is a block partial of 16 E2M1 products in half-units, |P| <= 16 * 12 * 12 = 2304;
// an E4M3 scale is m * 2^e with a 4-bit integer significand m (normal: 8 + mantissa, e = E - 10; subnormal:
// mantissa, e = -9) and e in [-9, 5].  So S = P * mx * mw * 2^(ex + ew) with |P * mx * mw| < 2^20 (fits float32's
// 24-bit significand) and exponent sum in [-18, 10]: nonzero |S| lies in [2^-18, 2^29], far inside the normal
// float32 range, hence both products of the reference are exact and the only rounding is the add, which
// bs_fp32_add does (it scales the integer P * mx * mw by 2^s exactly).  No flush and no overflow can occur in S.
// What bs_fp32_add cannot see, handled here:
//   - signed zeros: S = +-0 (P = 0 or a zero scale) carries sign(P) ^ sign(sx) ^ sign(sw) (float32(0) is +0),
//     and -0 + -0 is -0; every other zero case bs_fp32_add already gets right;
//   - NaN scale codes (E4M3 S.1111.111, never produced by the NVFP4 quantizer, flagged on scale_nan): decoded as
//     float32 NaN 0x7FC00000 with the code's sign; x86 SSE order (what numpy float32 gives on x86-64): a NaN
//     accumulator wins (returned quieted), else sx's NaN, else sw's.
module e4m3_scale_decode (
    input  wire [7:0]        code,
    output wire              sign,
    output wire [3:0]        m,       // integer significand
    output wire signed [4:0] e,       // value = (-1)^sign * m * 2^e
    output wire              nan
);
    wire [3:0] ef = code[6:3];
    assign sign = code[7];
    assign m = {ef != 4'd0, code[2:0]};
    assign e = (ef == 4'd0) ? -5'sd9 : $signed({1'b0, ef}) - 5'sd10;
    assign nan = code[6:0] == 7'h7F;
endmodule

module bs_nvfp4_add #(
    parameter integer PW = 13          // signed block partial P (|P| <= 2304 for 16 E2M1 products)
) (
    input  wire [31:0]   acc,
    input  wire [PW-1:0] p,
    input  wire [7:0]    sx,           // E4M3 block scale codes of the X and W blocks
    input  wire [7:0]    sw,
    output wire [31:0]   sum,
    output wire          scale_nan
);
    wire       sgx, sgw, nanx, nanw;
    wire [3:0] mx, mw;
    wire signed [4:0] ex, ew;
    e4m3_scale_decode dx (.code(sx), .sign(sgx), .m(mx), .e(ex), .nan(nanx));
    e4m3_scale_decode dw (.code(sw), .sign(sgw), .m(mw), .e(ew), .nan(nanw));

    // exact integer significand of S: P * mx * mw (|.| < 2^(PW-1) * 225 < 2^(PW+7)), sign of the scales applied
    wire [7:0] mm = mx * mw;
    wire signed [PW+7:0] prod = $signed(p) * $signed({1'b0, mm});
    wire flip = sgx ^ sgw;
    wire [PW+7:0] ps = flip ? -prod : prod;
    wire [5:0] s = {ex[4], ex} + {ew[4], ew};

    wire [31:0] add_sum;
    /* verilator lint_off UNUSEDSIGNAL */
    wire scale_ovf;                    // s <= 10: never set here
    /* verilator lint_on UNUSEDSIGNAL */
    bs_fp32_add #(.PW(PW+8), .SW(6)) add (.acc(acc), .p(ps), .s(s), .sum(add_sum), .scale_ovf(scale_ovf));

    wire a_nan = (acc[30:23] == 8'hFF) && (acc[22:0] != 23'd0);
    wire s_zero = (prod == {(PW+8){1'b0}});
    wire s_neg = p[PW-1] ^ flip;
    assign scale_nan = nanx | nanw;
    assign sum = (scale_nan && !a_nan) ? {nanx ? sgx : sgw, 8'hFF, 1'b1, 22'd0}
               : (s_zero && s_neg && acc == 32'h8000_0000) ? 32'h8000_0000
               : add_sum;
endmodule

// Registered accumulator: acc <= fl32((first ? +0 : acc) + fl32(fl32(P * sx) * sw)) when valid, one block per cycle.
module bs_nvfp4_acc #(
    parameter integer PW = 13
) (
    input  wire          clk,
    input  wire          rst,
    input  wire          valid,
    input  wire          first,
    input  wire [PW-1:0] p,
    input  wire [7:0]    sx,
    input  wire [7:0]    sw,
    output reg  [31:0]   acc,
    output wire          scale_nan
);
    wire [31:0] nxt;
    bs_nvfp4_add #(.PW(PW)) add (.acc(first ? 32'd0 : acc), .p(p), .sx(sx), .sw(sw), .sum(nxt), .scale_nan(scale_nan));
    always @(posedge clk) begin
        if (rst) acc <= 32'd0;
        else if (valid) acc <= nxt;
    end
endmodule
