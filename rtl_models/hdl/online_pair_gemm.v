`timescale 1ns/1ps
// A GEMM Y = A B^T whose two operands are both activations quantized online, as in full-path attention
// (S = Q K^T, O = P V): raw float32 blocks in, fp32 outputs out, no offline-quantized operand.
//
//   in_x (32 float32) -> q_frontend (shared exponent e, 32 q, signs) -> lut_selector (dialect id by LUT argmin,
//   32 four-bit codes) -> {e, id, codes} written into pe_array_gemm's A (X) or B (W) buffer -> on start, the PE
//   array (edge decoders, block dots, block scaler + float32 accumulator) runs the tiled GEMM.
//
// One selector path, time-multiplexed over both operands: each block says which operand (in_b) and which buffer
// entry (in_addr = row * MAX_NB + block) it is; A rows and B rows (= the columns of B^T, e.g. the rows of K in
// Q K^T, or of V^T in P V) may arrive in any order.  A design that feeds a live array would give each operand its
// own LUT unit; one unit is enough to check the data path bit for bit, and its cycle cost is stated below.
// A bf16 value enters as its float32 widening (bits << 16): q_frontend reads only the top 6 significand bits
// for q, so the codes are those of the float32 value, which is what the reference sees.
//
// The selector accepts a block every PASSES = D/BANKS cycles (in_ready) and registers its result PASSES edges
// later; the block's exponent and destination wait in a 2-entry FIFO (at most two blocks are in flight: one in
// the banks, one just accepted in the last pass), popped when the result is written.  q_valid/q_b/q_addr/q_word
// show each buffer write (the array's load port), so a testbench can check the online quantizer's exponents,
// dialect ids and codes.
// The zero-block rule needs no zero flag here: every dialect has ERR[d][0] = 0, so a block whose q are all 0 costs
// 0 in every dialect and the lowest id, 0, wins (the reference's id for both zero blocks and nonzero q-zero blocks).
//
// start (with cfg_m/n/k) is taken when the array is idle; it waits until the last accepted block has been written,
// then starts the array in the same cycle (no new block is accepted from then until done).  Cycles, when the host
// offers a block every cycle and raises start with the last one, from the edge that accepts the first block
// (exclusive) to the edge that raises done (inclusive), for nb = (M + N) * ceil(K / 32) blocks:
//     nb * PASSES + 2 + pe_array cycles (rtl_models/cycles.py pe_array_tile_cycles)
// (the last result is registered nb * PASSES edges after the first acceptance, written into the buffer at the
// next edge, and the array samples start at the one after).
module online_pair_gemm #(
    parameter integer ROWS = 4,
    parameter integer COLS = 4,
    parameter integer LANES = 32,
    parameter integer PIPELINE = 2,
    parameter integer D = 32,
    parameter integer ID_BITS = 5,
    parameter integer BANKS = 32,                 // selector dialect banks: one block per D/BANKS cycles
    parameter integer MAX_M = 8,
    parameter integer MAX_N = 8,
    parameter integer MAX_NB = 4,
    parameter integer EW = 128 + ID_BITS + 8,     // buffer word: {exponent, dialect id, 32 codes}
    parameter integer LAW = $clog2((MAX_M > MAX_N ? MAX_M : MAX_N) * MAX_NB),
    parameter integer RAW = $clog2(MAX_M * MAX_N)
) (
    input  wire           clk,
    input  wire           rst,
    // operand stream: one block of 32 float32 per accepted cycle
    input  wire           in_valid,
    output wire           in_ready,
    input  wire           in_b,         // 0: a row of A (the array's X), 1: a row of B (its W)
    input  wire [LAW-1:0] in_addr,      // row * MAX_NB + block
    input  wire [32*32-1:0] in_x,       // element i in bits [32i+31:32i]; finite values
    // the quantized words as they enter the operand buffers
    output wire           q_valid,
    output wire           q_b,
    output wire [LAW-1:0] q_addr,
    output wire [EW-1:0]  q_word,       // {exponent (int8), dialect id, code i in bits [4i+3:4i]}
    // GEMM control and result memory (pe_array_gemm's)
    input  wire [15:0]    cfg_m,
    input  wire [15:0]    cfg_n,
    input  wire [15:0]    cfg_k,        // K in elements
    input  wire           start,
    output wire           busy,
    output wire           done,
    input  wire [RAW-1:0] rd_addr,
    output wire [31:0]    rd_data
);
    localparam integer MW = 8 + 1 + LAW;          // FIFO entry: {exponent, operand, buffer address}

    // ---- online quantizer: front end + LUT selector
    wire signed [7:0] fe_exp;
    wire [32*5-1:0]   fe_q;
    wire [31:0]       fe_sign;
    /* verilator lint_off UNUSEDSIGNAL */
    wire              fe_zero;                    // not needed by the LUT selector (see the header)
    /* verilator lint_on UNUSEDSIGNAL */
    q_frontend fe (.in_x(in_x), .out_exp(fe_exp), .out_q(fe_q), .out_sign(fe_sign), .out_zero(fe_zero));

    reg               pending;                    // start taken, waiting for the blocks in flight
    wire              arr_busy;
    wire              hold = pending || arr_busy;  // the buffers belong to the array
    wire              sel_ready, sel_valid;
    wire [ID_BITS-1:0] sel_id;
    wire [32*4-1:0]   sel_codes;
    assign in_ready = sel_ready && !hold;
    wire              accept = in_valid && in_ready;
    lut_selector #(.D(D), .ID_BITS(ID_BITS), .BANKS(BANKS)) sel (
        .clk(clk), .rst(rst), .in_valid(in_valid && !hold), .in_ready(sel_ready), .in_q(fe_q), .in_sign(fe_sign),
        .out_valid(sel_valid), .out_dialect(sel_id), .out_codes(sel_codes));

    // ---- exponent and destination of the blocks in flight (results leave the selector in order)
    reg [MW-1:0] meta0, meta1;                    // meta0: the oldest
    reg [1:0]    count;
    wire [MW-1:0] meta_in = {fe_exp, in_b, in_addr};
    always @(posedge clk) begin
        if (rst) begin
            count <= 2'd0;
        end else begin
            case ({accept, sel_valid})
                2'b10: begin
                    if (count == 2'd0) meta0 <= meta_in; else meta1 <= meta_in;
                    count <= count + 2'd1;
                end
                2'b01: begin
                    meta0 <= meta1;
                    count <= count - 2'd1;
                end
                2'b11: begin
                    if (count == 2'd1) meta0 <= meta_in;
                    else begin
                        meta0 <= meta1;
                        meta1 <= meta_in;
                    end
                end
                default: ;
            endcase
        end
    end
    assign q_valid = sel_valid;
    assign q_b = meta0[LAW];
    assign q_addr = meta0[LAW-1:0];
    assign q_word = {meta0[MW-1 -: 8], sel_id, sel_codes};

    // ---- start: wait for the last block's buffer write, then start the array in the same cycle
    reg  [15:0] m_c, n_c, k_c;
    wire        arr_start = pending && (count == 2'd0);
    always @(posedge clk) begin
        if (rst) begin
            pending <= 1'b0;
        end else if (arr_start) begin
            pending <= 1'b0;
        end else if (start && !hold) begin
            pending <= 1'b1;
            m_c <= cfg_m;
            n_c <= cfg_n;
            k_c <= cfg_k;
        end
    end
    assign busy = hold || (count != 2'd0);

    pe_array_gemm #(.ROWS(ROWS), .COLS(COLS), .LANES(LANES), .PIPELINE(PIPELINE), .D(D), .ID_BITS(ID_BITS),
                    .MAX_M(MAX_M), .MAX_N(MAX_N), .MAX_NB(MAX_NB), .EW(EW), .LAW(LAW), .RAW(RAW)) arr (
        .clk(clk), .rst(rst), .ld_we(sel_valid), .ld_w(q_b), .ld_addr(q_addr), .ld_data(q_word),
        .cfg_m(m_c), .cfg_n(n_c), .cfg_k(k_c), .start(arr_start), .busy(arr_busy), .done(done),
        .rd_addr(rd_addr), .rd_data(rd_data));
endmodule
