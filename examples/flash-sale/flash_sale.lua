-- weir flash-sale purchase: one atomic step on the sale's partition.
--
-- KEYS[1]  stock counter          {sale:ID}:stock
-- KEYS[2]  this buyer's marker    {sale:ID}:buyer:USER   (idempotency key)
-- KEYS[3]  orders stream          {sale:ID}:orders
-- ARGV[1]  user id
-- ARGV[2]  quantity (a positive integer)
-- ARGV[3]  request id (the same on every retry of one purchase)
--
-- Returns 'ok', 'sold_out' or 'duplicate'. The {sale:ID} hash tag puts all
-- three keys in one slot, so the script runs on one partition's writer with
-- no global lock; its effects are one log entry, durable before the reply.
local qty = tonumber(ARGV[2])
if not qty or qty < 1 or qty % 1 ~= 0 then
  return redis.error_reply('ERR quantity must be a positive integer')
end
-- A retry of a purchase that went through (its reply may have been lost)
-- finds the marker and learns it already bought.
if redis.call('EXISTS', KEYS[2]) == 1 then
  return 'duplicate'
end
local stock = tonumber(redis.call('GET', KEYS[1]) or '0')
if stock < qty then
  return 'sold_out'
end
-- SET NX: the marker is never overwritten, whoever set it first owns it.
if not redis.call('SET', KEYS[2], ARGV[3], 'NX') then
  return 'duplicate'
end
redis.call('DECRBY', KEYS[1], qty)
-- The order joins the durable orders stream, for workers and the sink.
redis.call('XADD', KEYS[3], '*', 'order', ARGV[1] .. ':' .. ARGV[2] .. ':' .. ARGV[3])
return 'ok'
