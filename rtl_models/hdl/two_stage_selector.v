`timescale 1ns/1ps
// BlockDialect's two-stage online selector (quant/selectors.py select_two_stage is the spec).
// Stage 1: max tree over q -> block maximum in half-units mh = (qmax + 1) >> 1 -> the pair (2p, 2p+1) whose shared
// maximum is nearest to mh (ties to the lower pair; the spec's clamp to the book's range selects the same pair).
// Stage 2: count elements with A6+B6 <= q < A6+max (quarter-units) and choose A = 2p when the count reaches
// THRESHOLD, else B = 2p+1.  Then IDX lookup and code packing as in lut_selector.
// Timing: input registered at the accepting edge, result registered at the next: one block per cycle.
module two_stage_selector #(
    parameter integer D = 16,
    parameter integer ID_BITS = 4,
    parameter integer THRESHOLD = 1
) (
    input  wire                 clk,
    input  wire                 rst,
    input  wire                 in_valid,
    input  wire [32*5-1:0]      in_q,
    input  wire [31:0]          in_sign,
    input  wire                 in_zero,      // every element is +-0 (q_frontend's out_zero)
    output reg                  out_valid,
    output reg  [ID_BITS-1:0]   out_dialect,
    output reg  [32*4-1:0]      out_codes
);
`include "dialect_rom.vh"
    localparam integer N = 32;
    localparam integer NP = D / 2;

    generate
        if (D != ROM_D || ID_BITS != ROM_ID_BITS || D < 2) begin : bad_params
            rom_parameters_do_not_match_see_rtl_models_rom_py mismatch ();
        end
    endgenerate

    reg [N*5-1:0] q_r;
    reg [N-1:0]   s_r;
    reg           v_r;
    reg           z_r;

    wire [4:0] qmax;
    max_tree #(.N(N), .W(5)) mx (.in(q_r), .max(qmax));
    /* verilator lint_off UNUSEDSIGNAL */
    wire [5:0] q1 = {1'b0, qmax} + 6'd1;      // bit 0 dropped by the halving
    wire [4:0]         best_dist;              // only the argmin's index is used
    /* verilator lint_on UNUSEDSIGNAL */
    wire [4:0] mh = q1[5:1];                    // half-units, 0..16

    // stage 1: distance of each pair's maximum to mh, argmin
    wire [NP*5-1:0] pdist;
    genvar p, i;
    generate
        for (p = 0; p < NP; p = p + 1) begin : pair
            /* verilator lint_off WIDTH */
            localparam [ID_BITS-1:0] A = 2 * p;
            /* verilator lint_on WIDTH */
            /* verilator lint_off UNUSEDSIGNAL */
            wire [31:0] mags = rom_mag_row(A);          // constant; only the maximum (entry 7) is used
            /* verilator lint_on UNUSEDSIGNAL */
            wire [4:0] pm = {1'b0, mags[7*4 +: 4]};
            assign pdist[p*5 +: 5] = (pm > mh) ? pm - mh : mh - pm;
        end
    endgenerate
    wire [ID_BITS-2:0] best_pair;
    argmin_tree #(.N(NP), .W(5), .IW(ID_BITS-1)) amin (.cost(pdist), .min_cost(best_dist), .min_index(best_pair));
    wire [ID_BITS-1:0] id_a = {best_pair, 1'b0};
    wire [ID_BITS-1:0] id_b = {best_pair, 1'b1};

    // stage 2: beneficial-range count
    // the chosen pair's magnitude rows (NP-way muxes of constants; only entries 6 and 7 are used)
    /* verilator lint_off UNUSEDSIGNAL */
    wire [31:0] mags_a = rom_mag_row(id_a);
    wire [31:0] mags_b = rom_mag_row(id_b);
    /* verilator lint_on UNUSEDSIGNAL */
    wire [3:0] a6 = mags_a[6*4 +: 4];
    wire [3:0] b6 = mags_b[6*4 +: 4];
    wire [3:0] am = mags_a[7*4 +: 4];
    wire [4:0] lo = {1'b0, a6} + {1'b0, b6};
    wire [4:0] hi = {1'b0, a6} + {1'b0, am};
    wire [N-1:0] in_range;
    generate
        for (i = 0; i < N; i = i + 1) begin : rng
            assign in_range[i] = (q_r[i*5 +: 5] >= lo) && (q_r[i*5 +: 5] < hi);
        end
    endgenerate
    wire [5:0] count;
    adder_tree #(.N(N), .W(1), .SIGNED(0)) cnt (.in(in_range), .sum(count));
    /* verilator lint_off WIDTH */
    wire choose_b = count < THRESHOLD;
    /* verilator lint_on WIDTH */
    // the reference's zero rule (quant/reference_backend.py select_encode): a block of +-0 elements encodes as
    // dialect 0.  It needs the zero flag: a nonzero block below 2^-130 also has every q = 0 (qmax = 0) but keeps
    // the two stages' choice (mh = 0 selects the pair with the smallest maximum, the count is 0: its B dialect).
    wire [ID_BITS-1:0] sel = z_r ? {ID_BITS{1'b0}} : (choose_b ? id_b : id_a);

    // the selected dialect's IDX row (a D-way mux of 32 x 3-bit constant rows), each lane picking its entry by q
    wire [N*3-1:0] idx_row = rom_idx_row(sel);
    wire [N*4-1:0] codes;
    generate
        for (i = 0; i < N; i = i + 1) begin : pack
            wire [2:0] idx = rom_idx_entry(idx_row, q_r[i*5 +: 5]);
            assign codes[i*4 +: 4] = {s_r[i] & (idx != 3'd0), idx};
        end
    endgenerate

    always @(posedge clk) begin
        if (rst) begin
            v_r <= 1'b0;
            out_valid <= 1'b0;
        end else begin
            v_r <= in_valid;
            if (in_valid) begin
                q_r <= in_q;
                s_r <= in_sign;
                z_r <= in_zero;
            end
            out_valid <= v_r;
            if (v_r) begin
                out_dialect <= sel;
                out_codes <= codes;
            end
        end
    end
endmodule
