'use strict';

// What each STOMP scenario's summary (lib/stomp-scenarios.js) must show, whether it ran in
// Node or in Chromium. `lib` is 'v7' (@stomp/stompjs 7, STOMP 1.2) or 'v2' (stompjs 2.3.3,
// STOMP 1.1).

module.exports = {
  echo(s, { lib, transport, assert }) {
    assert.equal(s.transport, transport, 'sockjs-client used the forced transport');
    assert.equal(s.connected.version, lib === 'v7' ? '1.2' : '1.1');
    assert.equal(s.connected['heart-beat'], '10000,10000', "Spring's default server heart-beat");
    assert.equal(s.connected['user-name'], s.login, 'the login is the user name');
    const h = s.message.headers;
    assert.equal(h.destination, '/topic/echo');
    assert.equal(h['content-type'], 'application/json');
    assert.ok(h.subscription, `MESSAGE has a subscription header: ${JSON.stringify(h)}`);
    assert.ok(h['message-id'], `MESSAGE has a message-id header: ${JSON.stringify(h)}`);
  },

  userDestinations(s, { assert }) {
    assert.deepEqual(s.destinations, ['/user/queue/private', '/user/queue/private']);
    assert.equal(s.users[0], s.users[1], 'both sessions are one user');
  },

  ackModes(s, { lib, assert }) {
    for (const mode of ['client', 'client-individual']) {
      assert.equal(s[mode].length, 3);
      for (const m of s[mode]) {
        assert.ok(m.messageId, `${mode}: message-id`);
        // STOMP 1.2 names the message to acknowledge in an `ack` header; 1.1 uses message-id.
        if (lib === 'v7') assert.ok(m.ack, `${mode}: ack header on 1.2`);
        else assert.equal(m.ack, null, `${mode}: no ack header on 1.1`);
      }
    }
  },

  badFrame(s, { assert }) {
    assert.match(s.message, /malformed|BOGUS/i, 'the ERROR says what was wrong');
    assert.equal(s.close.code, 1002, 'the session closes with 1002 after ERROR');
  },

  largeMessage(s, { assert }) {
    assert.ok(s.length >= 40 * 1024, `echoed ${s.length} characters`);
    assert.ok(s.chunks >= 2, `the client split the frame over ${s.chunks} SockJS message(s)`);
  },

  unsubscribeDisconnect(s, { assert }) {
    assert.ok(s.close, 'the session closed after DISCONNECT');
  },
};
