`timescale 1ns/1ps
// Element decoders at the edge of the PE array (decode-at-the-edge): (dialect id, 4-bit code) -> 5-bit signed
// integer, sign + 4-bit half-unit magnitude (-15..15), which the PEs multiply as plain integers (block_dot_int5,
// mac_lane_int5 in mac_units.v).  One decoder per element entering the array, instead of one per operand per PE.
// The FP4 E2M1 edge decoder is mac_units.v's decode_e2m1; the compact DialectFP4 form is in decoder_compact.v.

// ROM form for a formatbook of D dialects: the decode ROM generated from the book by rom.py (rom_mag via
// mac_units.v's decode_dialect); ids >= D read zero magnitudes.
module decoder_dialect #(
    parameter integer D = 16,
    parameter integer ID_BITS = 4
) (
    input  wire [ID_BITS-1:0] dialect,
    input  wire [3:0]         code,
    output wire signed [4:0]  value
);
    generate
        if (D < 2 || D > (1 << ID_BITS)) begin : bad_params
            decoder_dialect_needs_2_le_D_le_2_pow_ID_BITS mismatch ();
        end
    endgenerate
    decode_dialect #(.ID_BITS(ID_BITS)) rom (.dialect(dialect), .code(code), .value(value));
endmodule

// A whole block of 32 codes sharing one dialect id -> 32 packed 5-bit integers (element i in bits [5i+4:5i]).
module decoder_dialect_block #(
    parameter integer D = 16,
    parameter integer ID_BITS = 4
) (
    input  wire [ID_BITS-1:0] dialect,
    input  wire [32*4-1:0]    codes,
    output wire [32*5-1:0]    values
);
    genvar i;
    generate
        for (i = 0; i < 32; i = i + 1) begin : lane
            decoder_dialect #(.D(D), .ID_BITS(ID_BITS)) dec (.dialect(dialect), .code(codes[i*4 +: 4]),
                                                            .value(values[i*5 +: 5]));
        end
    endgenerate
endmodule
