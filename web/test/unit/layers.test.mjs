// The browser's choice of simulcast layer for its grid (web/app/room.js).
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { layerForGrid } from '../../app/room.js';

test('small grids get the full layer, larger ones smaller layers', () => {
  assert.deepEqual([0, 1, 2, 3, 4, 5, 9, 49].map(layerForGrid), [2, 2, 2, 1, 1, 0, 0, 0]);
});
