import { chunkWindow, WINDOW_CEILING } from '../../src/domain/chunkWindow';

describe("a batch's window of chunks in flight, from the fleet serving its model", () => {
  test('twice the fleet depth in chunks, plus two chunks per worker (the one draining, the one leased ahead)', () => {
    // One worker, one backend found at 512, chunks of 20: 1,024 / 20 → 52, + 2.
    expect(chunkWindow({ workers: 1, depth: 512 }, 20, 1)).toBe(54);
    // The fleet: 64 GPUs at 256 behind 8 workers, chunks of 500: 32,768 / 500 → 66, + 16.
    expect(chunkWindow({ workers: 8, depth: 64 * 256 }, 500, 16)).toBe(82);
    // Chunks never split: a depth of one chunk and a request asks for three chunks' worth.
    expect(chunkWindow({ workers: 1, depth: 501 }, 500, 1)).toBe(5);
  });

  test('never below the floor: a fleet too small for it, or one not known (no worker reports a capacity), keeps CHUNKS_IN_FLIGHT_PER_BATCH', () => {
    expect(chunkWindow({ workers: 1, depth: 64 }, 500, 16)).toBe(16);
    expect(chunkWindow({ workers: 0, depth: 0 }, 500, 16)).toBe(16);
    // A worker whose backends are all down reports 0: its two chunks still count.
    expect(chunkWindow({ workers: 3, depth: 0 }, 500, 1)).toBe(6);
  });

  test(`never above ${WINDOW_CEILING} from a reading (a run starts no more; Temporal refuses 2,000 pending activities), but an explicit floor above it is kept`, () => {
    expect(chunkWindow({ workers: 512, depth: 4096 * 1024 }, 500, 16)).toBe(WINDOW_CEILING);
    expect(chunkWindow({ workers: 1, depth: 1024 }, 1, 16)).toBe(WINDOW_CEILING);
    expect(chunkWindow({ workers: 1, depth: 64 }, 500, 600)).toBe(600);
  });

  test("grows with the fleet: the window holds twice the fleet's depth, up to the ceiling", () => {
    const depths = [32, 256, 1024, 16_384, 65_536];
    const windows = depths.map((depth) => chunkWindow({ workers: 1, depth }, 500, 16));
    expect(windows).toEqual([...windows].sort((a, b) => a - b));
    for (const [i, depth] of depths.entries()) expect(windows[i]! * 500).toBeGreaterThanOrEqual(Math.min(2 * depth, WINDOW_CEILING * 500));
  });
});
