`timescale 1ns/1ps
// Reduction and selection trees used by the selectors and the MAC processing elements.
// All four are recursive binary trees (the lower half of the inputs is the left subtree), so the logic depth is
// ceil(log2 N) and yosys/iverilog/verilator elaborate them from the N parameter alone.

// Sum of N two's-complement (SIGNED=1) or unsigned (SIGNED=0) W-bit values, exact: W + clog2(N) output bits.
module adder_tree #(
    parameter integer N = 32,
    parameter integer W = 8,
    parameter integer SIGNED = 0,
    parameter integer OW = W + $clog2(N)
) (
    input  wire [N*W-1:0] in,
    output wire [OW-1:0]  sum
);
    generate
        if (N == 1) begin : leaf
            if (SIGNED != 0) begin : sx
                assign sum = {{(OW-W){in[W-1]}}, in};
            end else begin : zx
                assign sum = {{(OW-W){1'b0}}, in};
            end
        end else begin : node
            localparam integer NL = N / 2;
            localparam integer NR = N - NL;
            wire [OW-2:0] sl;
            wire [OW-2:0] sr;
            adder_tree #(.N(NL), .W(W), .SIGNED(SIGNED), .OW(OW-1)) left  (.in(in[NL*W-1:0]), .sum(sl));
            adder_tree #(.N(NR), .W(W), .SIGNED(SIGNED), .OW(OW-1)) right (.in(in[N*W-1:NL*W]), .sum(sr));
            if (SIGNED != 0) begin : sadd
                assign sum = {sl[OW-2], sl} + {sr[OW-2], sr};
            end else begin : uadd
                assign sum = {1'b0, sl} + {1'b0, sr};
            end
        end
    endgenerate
endmodule

// Minimum of N unsigned W-bit costs and the index of its first occurrence (ties go to the lowest index).
module argmin_tree #(
    parameter integer N = 16,
    parameter integer W = 13,
    parameter integer IW = 4
) (
    input  wire [N*W-1:0] cost,
    output wire [W-1:0]   min_cost,
    output wire [IW-1:0]  min_index
);
    generate
        if (N == 1) begin : leaf
            assign min_cost = cost;
            assign min_index = {IW{1'b0}};
        end else begin : node
            localparam integer NL = N / 2;
            localparam integer NR = N - NL;
            wire [W-1:0]  cl, cr;
            wire [IW-1:0] il, ir;
            argmin_tree #(.N(NL), .W(W), .IW(IW)) left  (.cost(cost[NL*W-1:0]), .min_cost(cl), .min_index(il));
            argmin_tree #(.N(NR), .W(W), .IW(IW)) right (.cost(cost[N*W-1:NL*W]), .min_cost(cr), .min_index(ir));
            // the right subtree holds higher indices: it wins only when strictly smaller
            wire take_right = cr < cl;
            /* verilator lint_off WIDTH */
            localparam [IW-1:0] OFFSET = NL;
            /* verilator lint_on WIDTH */
            assign min_cost = take_right ? cr : cl;
            assign min_index = take_right ? ir + OFFSET : il;
        end
    endgenerate
endmodule

// Maximum of N unsigned W-bit values.
module max_tree #(
    parameter integer N = 32,
    parameter integer W = 5
) (
    input  wire [N*W-1:0] in,
    output wire [W-1:0]   max
);
    generate
        if (N == 1) begin : leaf
            assign max = in;
        end else begin : node
            localparam integer NL = N / 2;
            wire [W-1:0] ml, mr;
            max_tree #(.N(NL), .W(W)) left  (.in(in[NL*W-1:0]), .max(ml));
            max_tree #(.N(N - NL), .W(W)) right (.in(in[N*W-1:NL*W]), .max(mr));
            assign max = (mr > ml) ? mr : ml;
        end
    endgenerate
endmodule

// Entry `sel` of N W-bit entries (entry k in bits [k*W +: W]), N a power of two >= 2: a binary tree of 2:1
// multiplexers, the most significant select bit at the root (lut_selector: a bank's ERR row by pass).
module mux_tree #(
    parameter integer N = 32,
    parameter integer W = 8,
    parameter integer SW = $clog2(N)
) (
    input  wire [N*W-1:0] in,
    input  wire [SW-1:0]  sel,
    output wire [W-1:0]   out
);
    generate
        if (N == 2) begin : leaf
            assign out = sel[0] ? in[2*W-1:W] : in[W-1:0];
        end else begin : node
            localparam integer NL = N / 2;
            wire [W-1:0] ol, oh;
            mux_tree #(.N(NL), .W(W), .SW(SW-1)) lo (.in(in[NL*W-1:0]), .sel(sel[SW-2:0]), .out(ol));
            mux_tree #(.N(NL), .W(W), .SW(SW-1)) hi (.in(in[N*W-1:NL*W]), .sel(sel[SW-2:0]), .out(oh));
            assign out = sel[SW-1] ? oh : ol;
        end
    endgenerate
endmodule
