"""Vector-lane helpers for the Numba selection kernel (quant/fast_select.py): all dialects of a group scored at once.

LUT selection sums, for every dialect d, ERR[d][q_i] over the elements of a block.  Laid out as ERR^T with one row
per q (32 dialect lanes per row, zero-padded), each element adds one whole row: a single vector add of 32 integer
lanes.  Numba's loop vectorizer does not find this form by itself (it vectorizes over the elements and gathers
instead, or keeps the sums in memory behind alias checks), so `lane_sums` writes the loop in LLVM IR with the 32
sums held in one LLVM vector value.  Integer sums do not depend on order, so the result equals the reference's
int64 sum whenever no lane overflows; the caller picks int16 or int32 lanes from the largest possible sum.
"""
from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

LANES = 32   # dialect lanes per table group: one 512-bit register of int16 (two of int32)


def _loop_sums(builder, q_arr, t_arr, group, vec):
    """Emit `s = sum_i T[q[i], group, :]` as a counted loop; returns the <LANES x elt> sum (zero when q is empty)."""
    i64 = ir.IntType(64)
    n = builder.extract_value(q_arr.shape, 0)
    n_groups = builder.extract_value(t_arr.shape, 1)
    entry = builder.basic_block
    loop = builder.append_basic_block("lanes.loop")
    done = builder.append_basic_block("lanes.done")
    builder.cbranch(builder.icmp_signed(">", n, i64(0)), loop, done)
    builder.position_at_end(loop)
    i = builder.phi(i64)
    s = builder.phi(vec)
    qi = builder.sext(builder.load(builder.gep(q_arr.data, [i])), i64)
    row = builder.mul(builder.add(builder.mul(qi, n_groups), group), i64(LANES))   # T is C-contiguous
    row_ptr = builder.bitcast(builder.gep(t_arr.data, [row]), vec.as_pointer())
    s_next = builder.add(s, builder.load(row_ptr, align=vec.element.width // 8))
    i_next = builder.add(i, i64(1))
    i.add_incoming(i64(0), entry)
    i.add_incoming(i_next, loop)
    s.add_incoming(ir.Constant(vec, None), entry)
    s.add_incoming(s_next, loop)
    builder.cbranch(builder.icmp_signed("<", i_next, n), loop, done)
    builder.position_at_end(done)
    total = builder.phi(vec)
    total.add_incoming(ir.Constant(vec, None), entry)
    total.add_incoming(s_next, loop)
    return total


@intrinsic
def lane_sums(typingctx, q, table, group, out):
    """out[group*LANES:(group+1)*LANES] = sum_i table[q[i], group, :], the LANES sums held in one vector register.

    q: 1-D C-contiguous int array of row indices (each in range: the caller guarantees 0 <= q < table.shape[0]);
    table: 3-D C-contiguous int16/int32 array (rows, groups, LANES); out: 1-D C-contiguous array of the table's
    dtype with at least (group+1)*LANES entries.  Lanes wrap on overflow, so the caller must size the dtype."""
    ok = (isinstance(q, types.Array) and isinstance(q.dtype, types.Integer) and q.ndim == 1 and q.layout == "C"
          and isinstance(table, types.Array) and table.ndim == 3 and table.layout == "C"
          and table.dtype in (types.int16, types.int32) and isinstance(group, types.Integer)
          and isinstance(out, types.Array) and out.ndim == 1 and out.layout == "C" and out.dtype == table.dtype)
    if not ok:
        return None
    sig = types.void(q, table, group, out)

    def codegen(context, builder, signature, args):
        q_arr = context.make_array(signature.args[0])(context, builder, args[0])
        t_arr = context.make_array(signature.args[1])(context, builder, args[1])
        o_arr = context.make_array(signature.args[3])(context, builder, args[3])
        group_v = context.cast(builder, args[2], signature.args[2], types.int64)
        vec = ir.VectorType(context.get_data_type(signature.args[1].dtype), LANES)
        total = _loop_sums(builder, q_arr, t_arr, group_v, vec)
        out_ptr = builder.gep(o_arr.data, [builder.mul(group_v, ir.IntType(64)(LANES))])
        builder.store(total, builder.bitcast(out_ptr, vec.as_pointer()), align=vec.element.width // 8)
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def lane_min_key(typingctx, sums, group, n_valid):
    """min over lanes d < n_valid of group `group` of sums * 2^16 + d (d counted across groups): the lowest cost and,
    among equal costs, the lowest dialect id, as one int64 key (reduced in vector registers, no per-lane branch).
    Lanes at or past n_valid count as 2^62.  sums: 1-D C-contiguous int16/int32 array; ids must stay below 2^16."""
    ok = (isinstance(sums, types.Array) and sums.ndim == 1 and sums.layout == "C"
          and sums.dtype in (types.int16, types.int32) and isinstance(group, types.Integer)
          and isinstance(n_valid, types.Integer))
    if not ok:
        return None
    sig = types.int64(sums, group, n_valid)

    def codegen(context, builder, signature, args):
        i64 = ir.IntType(64)
        s_arr = context.make_array(signature.args[0])(context, builder, args[0])
        group_v = context.cast(builder, args[1], signature.args[1], types.int64)
        n_v = context.cast(builder, args[2], signature.args[2], types.int64)
        vec = ir.VectorType(context.get_data_type(signature.args[0].dtype), LANES)
        vec64 = ir.VectorType(i64, LANES)
        base = builder.mul(group_v, i64(LANES))
        loaded = builder.load(builder.bitcast(builder.gep(s_arr.data, [base]), vec.as_pointer()),
                              align=vec.element.width // 8)
        ids = builder.add(ir.Constant(vec64, list(range(LANES))), _splat(builder, base, vec64))
        keys = builder.or_(builder.shl(builder.sext(loaded, vec64), _splat(builder, i64(16), vec64)), ids)
        valid = builder.icmp_signed("<", ids, _splat(builder, n_v, vec64))
        keys = builder.select(valid, keys, _splat(builder, i64(1 << 62), vec64))
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(i64, [vec64]),
                                            f"llvm.vector.reduce.smin.v{LANES}i64")
        return builder.call(fn, [keys])

    return sig, codegen


def _splat(builder, scalar, vec):
    """<LANES x scalar>: scalar broadcast to every lane."""
    one = builder.insert_element(ir.Constant(vec, ir.Undefined), scalar, ir.IntType(32)(0))
    mask = ir.Constant(ir.VectorType(ir.IntType(32), LANES), [0] * LANES)
    return builder.shuffle_vector(one, ir.Constant(vec, ir.Undefined), mask)
