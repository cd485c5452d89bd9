-- Issue 27: a batch's window of chunks in flight follows the capacity of the GPU workers serving its
-- model. With each model it serves, a GPU worker reports the sum of the depths its backends in
-- rotation have found for it, refreshed with its heartbeat (and sooner when it grows). NULL: a worker
-- from before this change (or one not reporting), whose capacity is unknown; the window's floor
-- (CHUNKS_IN_FLIGHT_PER_BATCH) covers it.
ALTER TABLE inference_workers ADD COLUMN capacity integer CHECK (capacity >= 0);
