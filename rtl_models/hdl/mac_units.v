`timescale 1ns/1ps
// Multiply-accumulate datapaths, one structure for every element format so their areas compare fairly:
//   decode (format specific) -> signed EW x EW multiply -> PW-bit product -> accumulate.
// block_dot_*: 32 lanes in parallel and an exact adder tree (one block partial P per evaluation, combinational).
// mac_lane_*:  one lane, a product per cycle into an AW-bit accumulator register (32 cycles per block).
// Decoded element integers: dialect and FP4 in half-units (-15..15, 5-bit signed), INT4 -8..7, INT8 -128..127.
// *_int5: the PE side of decode-at-the-edge (edge_decoders.v): operands arrive as decoded 5-bit integers, sign +
// 4-bit half-unit magnitude, so -16 never occurs and the 9-bit product of the dialect datapath suffices.

// ---- decoders ----------------------------------------------------------------------------------------------
// FP4 E2M1 code {s, e1, e0, m} -> half-units: e == 0: m; else (2 + m) << (e - 1)  (0,1,2,3,4,6,8,12)
module decode_e2m1 (
    input  wire [3:0]       code,
    output wire signed [4:0] value
);
    wire [1:0] e = code[2:1];
    wire [4:0] mag = (e == 2'd0) ? {4'd0, code[0]} : ({3'd0, 1'b1, code[0]} << (e - 2'd1));
    assign value = code[3] ? -$signed(mag) : $signed(mag);
endmodule

// Dialect element: (dialect id, code) -> +-half-units through the decode ROM generated from the formatbook.
module decode_dialect #(
    parameter integer ID_BITS = 4
) (
    input  wire [ID_BITS-1:0] dialect,
    input  wire [3:0]         code,
    output wire signed [4:0]  value
);
`include "dialect_rom.vh"
    wire [4:0] mag = {1'b0, rom_mag(dialect, code[2:0])};
    assign value = code[3] ? -$signed(mag) : $signed(mag);
endmodule

// ---- block dot product: N products and an exact adder tree ------------------------------------------------
module block_dot_core #(
    parameter integer N = 32,
    parameter integer EW = 5,        // decoded element width (signed)
    parameter integer PW = 9,        // product width (signed), enough for the largest product magnitude
    parameter integer SW = PW + $clog2(N)
) (
    input  wire [N*EW-1:0] va,
    input  wire [N*EW-1:0] vb,
    output wire [SW-1:0]   sum       // signed
);
    wire [N*PW-1:0] prod;
    genvar i;
    generate
        for (i = 0; i < N; i = i + 1) begin : lane
            /* verilator lint_off UNUSEDSIGNAL */
            wire signed [2*EW-1:0] p = $signed(va[i*EW +: EW]) * $signed(vb[i*EW +: EW]);
            /* verilator lint_on UNUSEDSIGNAL */
            assign prod[i*PW +: PW] = p[PW-1:0];   // the upper bits are sign copies for the formats used here
        end
    endgenerate
    adder_tree #(.N(N), .W(PW), .SIGNED(1), .OW(SW)) tree (.in(prod), .sum(sum));
endmodule

// Dialect block PE datapath: decode both operands with their block's dialect, multiply, reduce (|P| <= 7200).
module block_dot_dialect #(
    parameter integer D = 16,
    parameter integer ID_BITS = 4
) (
    input  wire [ID_BITS-1:0] a_dialect,
    input  wire [ID_BITS-1:0] b_dialect,
    input  wire [32*4-1:0]    a_codes,
    input  wire [32*4-1:0]    b_codes,
    output wire [13:0]        sum
);
    wire [32*5-1:0] va, vb;
    genvar i;
    generate
        if (D < 2) begin : bad_params
            dialect_book_needs_at_least_two_dialects mismatch ();
        end
        for (i = 0; i < 32; i = i + 1) begin : dec
            decode_dialect #(.ID_BITS(ID_BITS)) da (.dialect(a_dialect), .code(a_codes[i*4 +: 4]), .value(va[i*5 +: 5]));
            decode_dialect #(.ID_BITS(ID_BITS)) db (.dialect(b_dialect), .code(b_codes[i*4 +: 4]), .value(vb[i*5 +: 5]));
        end
    endgenerate
    block_dot_core #(.N(32), .EW(5), .PW(9)) core (.va(va), .vb(vb), .sum(sum));
endmodule

// Block PE datapath of decode-at-the-edge: operands already decoded to 5-bit integers (-15..15), |P| <= 7200.
module block_dot_int5 (
    input  wire [32*5-1:0] a_values,
    input  wire [32*5-1:0] b_values,
    output wire [13:0]     sum
);
    block_dot_core #(.N(32), .EW(5), .PW(9)) core (.va(a_values), .vb(b_values), .sum(sum));
endmodule

module block_dot_fp4 (
    input  wire [32*4-1:0] a_codes,
    input  wire [32*4-1:0] b_codes,
    output wire [13:0]     sum       // |P| <= 32 * 144
);
    wire [32*5-1:0] va, vb;
    genvar i;
    generate
        for (i = 0; i < 32; i = i + 1) begin : dec
            decode_e2m1 da (.code(a_codes[i*4 +: 4]), .value(va[i*5 +: 5]));
            decode_e2m1 db (.code(b_codes[i*4 +: 4]), .value(vb[i*5 +: 5]));
        end
    endgenerate
    block_dot_core #(.N(32), .EW(5), .PW(9)) core (.va(va), .vb(vb), .sum(sum));
endmodule

module block_dot_int4 (
    input  wire [32*4-1:0] a_codes,  // two's complement -8..7
    input  wire [32*4-1:0] b_codes,
    output wire [12:0]     sum
);
    block_dot_core #(.N(32), .EW(4), .PW(8)) core (.va(a_codes), .vb(b_codes), .sum(sum));
endmodule

module block_dot_int8 (
    input  wire [32*8-1:0] a_codes,
    input  wire [32*8-1:0] b_codes,
    output wire [20:0]     sum
);
    block_dot_core #(.N(32), .EW(8), .PW(16)) core (.va(a_codes), .vb(b_codes), .sum(sum));
endmodule

// ---- single MAC lanes ------------------------------------------------------------------------------------
// acc <= (clear ? 0 : acc) + a * b when en; the accumulator holds one block of 32 products exactly.
module mac_lane_core #(
    parameter integer EW = 5,
    parameter integer PW = 9,
    parameter integer AW = 14
) (
    input  wire          clk,
    input  wire          en,
    input  wire          clear,     // start a new block with this product
    input  wire [EW-1:0] a,
    input  wire [EW-1:0] b,
    output reg  [AW-1:0] acc        // signed
);
    /* verilator lint_off UNUSEDSIGNAL */
    wire signed [2*EW-1:0] p = $signed(a) * $signed(b);
    /* verilator lint_on UNUSEDSIGNAL */
    wire [AW-1:0] pe = {{(AW-PW){p[PW-1]}}, p[PW-1:0]};
    always @(posedge clk) begin
        if (en) acc <= (clear ? {AW{1'b0}} : acc) + pe;
    end
endmodule

module mac_lane_dialect #(
    parameter integer D = 16,
    parameter integer ID_BITS = 4
) (
    input  wire               clk, en, clear,
    input  wire [ID_BITS-1:0] a_dialect, b_dialect,
    input  wire [3:0]         a_code, b_code,
    output wire [13:0]        acc
);
    wire [4:0] va, vb;
    generate
        if (D < 2) begin : bad_params
            dialect_book_needs_at_least_two_dialects mismatch ();
        end
    endgenerate
    decode_dialect #(.ID_BITS(ID_BITS)) da (.dialect(a_dialect), .code(a_code), .value(va));
    decode_dialect #(.ID_BITS(ID_BITS)) db (.dialect(b_dialect), .code(b_code), .value(vb));
    mac_lane_core #(.EW(5), .PW(9), .AW(14)) core (.clk(clk), .en(en), .clear(clear), .a(va), .b(vb), .acc(acc));
endmodule

// The dialect lane without its decoders: the operands were decoded at the array edge (-15..15).
module mac_lane_int5 (
    input  wire        clk, en, clear,
    input  wire [4:0]  a_value, b_value,
    output wire [13:0] acc
);
    mac_lane_core #(.EW(5), .PW(9), .AW(14)) core (.clk(clk), .en(en), .clear(clear), .a(a_value), .b(b_value), .acc(acc));
endmodule

module mac_lane_fp4 (
    input  wire        clk, en, clear,
    input  wire [3:0]  a_code, b_code,
    output wire [13:0] acc
);
    wire [4:0] va, vb;
    decode_e2m1 da (.code(a_code), .value(va));
    decode_e2m1 db (.code(b_code), .value(vb));
    mac_lane_core #(.EW(5), .PW(9), .AW(14)) core (.clk(clk), .en(en), .clear(clear), .a(va), .b(vb), .acc(acc));
endmodule

module mac_lane_int4 (
    input  wire        clk, en, clear,
    input  wire [3:0]  a_code, b_code,
    output wire [12:0] acc
);
    mac_lane_core #(.EW(4), .PW(8), .AW(13)) core (.clk(clk), .en(en), .clear(clear), .a(a_code), .b(b_code), .acc(acc));
endmodule

module mac_lane_int8 (
    input  wire        clk, en, clear,
    input  wire [7:0]  a_code, b_code,
    output wire [20:0] acc
);
    mac_lane_core #(.EW(8), .PW(16), .AW(21)) core (.clk(clk), .en(en), .clear(clear), .a(a_code), .b(b_code), .acc(acc));
endmodule
