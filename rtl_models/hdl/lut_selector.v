`timescale 1ns/1ps
// LUT-based dialect selector (docs/formats.md#lut-formatbook): per-dialect ERR ROM banks -> adder trees -> argmin tree
// -> IDX ROM lookup -> code packing.  Input: one block of 32 five-bit intermediates q (quarter-units) and signs.
//
// Microarchitecture: BANKS dialect banks (each an ERR row lookup for 32 lanes + one adder tree) evaluate dialects
// pass*BANKS .. pass*BANKS+BANKS-1 in pass = 0 .. D/BANKS-1, one pass per cycle; a running (cost, id) minimum
// keeps the earlier (lower) id on ties.  A block accepted at a rising edge has its result registered
// (out_valid = 1) D/BANKS edges later; a new block is accepted in the last pass, so throughput is one block per
// D/BANKS cycles (one per cycle when BANKS == D).
// ROM contents come from dialect_rom.vh, generated from the quant formatbook by rtl_models/rom.py.
module lut_selector #(
    parameter integer D = 16,         // formatbook size (must equal the ROM's ROM_D)
    parameter integer ID_BITS = 4,    // dialect id width (must equal ROM_ID_BITS)
    parameter integer BANKS = 16      // dialect banks in parallel; a power of two dividing D
) (
    input  wire                 clk,
    input  wire                 rst,          // synchronous, active high
    input  wire                 in_valid,
    output wire                 in_ready,
    input  wire [32*5-1:0]      in_q,         // element i in bits [5i+4:5i]
    input  wire [31:0]          in_sign,
    output reg                  out_valid,
    output reg  [ID_BITS-1:0]   out_dialect,
    output reg  [32*4-1:0]      out_codes     // code i = sign<<3 | idx in bits [4i+3:4i]
);
`include "dialect_rom.vh"
    localparam integer N = 32;
    localparam integer PASSES = D / BANKS;
    localparam integer PW = (PASSES > 1) ? $clog2(PASSES) : 1;
    localparam integer LOGB = $clog2(BANKS);
    localparam integer CW = ROM_ERR_BITS + 5;     // sum of 32 ERR values

    generate
        if (D != ROM_D || ID_BITS != ROM_ID_BITS || PASSES * BANKS != D || (1 << LOGB) != BANKS) begin : bad_params
            rom_or_bank_parameters_do_not_match_see_rtl_models_rom_py mismatch ();
        end
    endgenerate

    reg  [N*5-1:0]     q_r;
    reg  [N-1:0]       s_r;
    reg                busy;
    reg  [PW-1:0]      pass;
    reg  [CW-1:0]      best_cost;
    reg  [ID_BITS-1:0] best_id;
    /* verilator lint_off WIDTH */
    wire               last = (pass == PASSES - 1);
    /* verilator lint_on WIDTH */
    assign in_ready = !busy || last;

    // dialect id of bank 0 in this pass
    wire [ID_BITS-1:0] base;
    generate
        if (PASSES == 1) begin : one_pass
            assign base = {ID_BITS{1'b0}};
        end else if (LOGB == 0) begin : one_bank
            assign base = pass;
        end else begin : multi
            assign base = {pass, {LOGB{1'b0}}};
        end
    endgenerate

    // Bank b of pass p evaluates dialect p*BANKS + b.  Its ERR row (32 x ROM_ERR_BITS) is selected once per bank and
    // shared by the 32 lanes: a constant when BANKS == D, else a PASSES-way mux of constant rows on `pass`; each lane
    // picks its entry with its q (rom_err_entry, a 32:1 mux; with a constant row a 5-input function per ERR bit).
    localparam integer RW = N * ROM_ERR_BITS;
    wire [BANKS*CW-1:0] bank_cost;
    genvar b, i, p;
    generate
        for (b = 0; b < BANKS; b = b + 1) begin : bank
            wire [PASSES*RW-1:0] rows;
            for (p = 0; p < PASSES; p = p + 1) begin : row_of_pass
                /* verilator lint_off WIDTH */
                localparam [ID_BITS-1:0] DID = p * BANKS + b;
                /* verilator lint_on WIDTH */
                assign rows[p*RW +: RW] = rom_err_row(DID);
            end
            wire [RW-1:0] row;
            if (PASSES == 1) begin : fixed
                assign row = rows;
            end else begin : by_pass
                mux_tree #(.N(PASSES), .W(RW)) pick (.in(rows), .sel(pass), .out(row));
            end
            wire [RW-1:0] err;
            for (i = 0; i < N; i = i + 1) begin : lane
                assign err[i*ROM_ERR_BITS +: ROM_ERR_BITS] = rom_err_entry(row, q_r[i*5 +: 5]);
            end
            adder_tree #(.N(N), .W(ROM_ERR_BITS), .SIGNED(0)) tree (.in(err), .sum(bank_cost[b*CW +: CW]));
        end
    endgenerate

    wire [CW-1:0]      pass_cost;
    wire [ID_BITS-1:0] pass_bank;
    argmin_tree #(.N(BANKS), .W(CW), .IW(ID_BITS)) amin (.cost(bank_cost), .min_cost(pass_cost), .min_index(pass_bank));
    // earlier passes hold lower ids, so a later pass replaces the running minimum only when strictly smaller
    wire               take = (pass == {PW{1'b0}}) || (pass_cost < best_cost);
    wire [CW-1:0]      new_cost = take ? pass_cost : best_cost;
    wire [ID_BITS-1:0] new_id = take ? (base | pass_bank) : best_id;

    // the running winner's IDX row (a D-way mux of 32 x 3-bit constant rows), each lane picking its entry by q
    wire [N*3-1:0] idx_row = rom_idx_row(new_id);
    wire [N*4-1:0] codes;
    generate
        for (i = 0; i < N; i = i + 1) begin : pack
            wire [2:0] idx = rom_idx_entry(idx_row, q_r[i*5 +: 5]);
            // canonical zero: the sign bit is kept only for a nonzero index
            assign codes[i*4 +: 4] = {s_r[i] & (idx != 3'd0), idx};
        end
    endgenerate

    always @(posedge clk) begin
        if (rst) begin
            busy <= 1'b0;
            pass <= {PW{1'b0}};
            out_valid <= 1'b0;
        end else begin
            out_valid <= 1'b0;
            if (busy) begin
                best_cost <= new_cost;
                best_id <= new_id;
                /* verilator lint_off WIDTH */
                pass <= last ? {PW{1'b0}} : pass + 1'b1;
                /* verilator lint_on WIDTH */
                if (last) begin
                    out_valid <= 1'b1;
                    out_dialect <= new_id;
                    out_codes <= codes;
                    busy <= 1'b0;
                end
            end
            if (in_valid && in_ready) begin
                q_r <= in_q;
                s_r <= in_sign;
                busy <= 1'b1;
            end
        end
    end
endmodule
