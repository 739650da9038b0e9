'use strict';

// sockjs-client fires its `heartbeat` event on each `h` frame. A server we
// start gets --heartbeat-secs 1, so this takes seconds, not 25 s. Against an
// external server (SOCKJS_URL) the tests run only when SOCKJS_HEARTBEAT_SECS
// gives its interval.

const { describe, it, before, after } = require('node:test');

const { startServer } = require('../lib/server');
const { openClient, closeAll } = require('../lib/client');
const { transportsUnderTest } = require('../lib/transports');
const { profile, profileName } = require('../lib/profile');

const STARTED_SERVER_HEARTBEAT_SECS = 1;
const heartbeatSecs = process.env.SOCKJS_URL
  ? Number(process.env.SOCKJS_HEARTBEAT_SECS || 0)
  : STARTED_SERVER_HEARTBEAT_SECS;
// Bounds, not timing checks: a timeout here means "no heartbeat came".
const WAIT_MS = (heartbeatSecs * 2 + 8) * 1000;
const TEST_TIMEOUT_MS = WAIT_MS + 30_000;
const BOUNDED = { timeout: TEST_TIMEOUT_MS };

let server;

before(async () => {
  server = await startServer({ name: 'heartbeat', heartbeatSecs: STARTED_SERVER_HEARTBEAT_SECS });
});

after(async () => {
  if (server) await server.stop();
});

for (const transport of transportsUnderTest()) {
  describe(`heartbeat on ${transport}`, () => {
    it('delivers heartbeat events on an idle connection and keeps it open', BOUNDED, async (t) => {
      if (!heartbeatSecs) {
        t.skip('external server: set SOCKJS_HEARTBEAT_SECS to its heartbeat interval');
        return;
      }
      if (transport === 'websocket' && !profile().websocketHeartbeatFrames) {
        t.skip(`profile ${profileName()}: websocket heartbeats are pings, invisible to sockjs-client`);
        return;
      }
      const client = await openClient(`${server.baseUrl}/echo`, { transports: [transport] });
      try {
        // Only heartbeats after the open count: on xhr-streaming the 2048-byte `h`
        // prelude line is itself taken for one by sockjs-client. Two of them: the
        // first could race the open, the second proves a cadence.
        const atOpen = client.heartbeats;
        try {
          await client.waitHeartbeats(atOpen + 2, WAIT_MS);
        } catch (err) {
          if (transport === 'websocket') {
            err.message +=
              '\n  (the server must send `h` frames on websocket too: a websocket ping never ' +
              "reaches sockjs-client's heartbeat event)";
          }
          throw err;
        }
        client.send('still alive');
        await client.waitMessageEqual('still alive');
      } finally {
        closeAll(client);
      }
    });
  });
}
