'use strict';

const { profile } = require('./profile');

// The echo batch and a comparison that explains a mismatch in a few lines
// (a 1 MiB string diff is no help).

function range(from, to) {
  let s = '';
  for (let c = from; c <= to; c += 1) s += String.fromCharCode(c);
  return s;
}

/**
 * A long string of mostly ASCII with some 2-, 3- and 4-byte UTF-8 characters
 * (the 4-byte ones are surrogate pairs in JS), so a chunk boundary inside a
 * multi-byte character or a lost/duplicated chunk shows. Each 64-code-unit
 * block carries its own offset, so a mismatch says where.
 */
function bigMessage(length) {
  const tail = ' é€😀 json:"\\/ ';
  let out = '';
  while (out.length < length) {
    const head = `#${out.length.toString(16).padStart(8, '0')}:`;
    let block = head + tail;
    block += 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ'.slice(0, 64 - block.length);
    out += block;
  }
  // Cutting could split a surrogate pair: end on a plain character instead.
  out = out.slice(0, length - 1) + '.';
  return out;
}

/** [label, sent, expected echo] in sending order. */
function echoBatch() {
  const batch = [
    ['ascii', 'Hello, SockJS! 0123456789 ~!@#$^&*()_+-=[]{}|;:,.<>?`\'', null],
    ['percent signs', '100% sure: %41 %zz %25 %', null],
    ['json-special', '"quoted" back\\slash /slash/ </script> {"a":[1,"b"]} \\u0041 \\"', null],
    ['control characters U+0000-U+001F', range(0x00, 0x1f), null],
    ['newline frames', 'a\nb\r\nc\n\n', null],
    ['U+2028/U+2029', 'line\u2028separator\u2029paragraph', null],
    ['U+200C-U+200F', range(0x200c, 0x200f), null],
    ['U+202A-U+202F and U+2060-U+206F', range(0x202a, 0x202f) + range(0x2060, 0x206f), null],
    ['U+FFF0-U+FFFF', range(0xfff0, 0xffff), null],
    ['emoji (surrogate pairs)', '😀 👍🏽 🇪🇺 👨‍👩‍👧 𝄞 \u{10FFFF}', null],
    ['non-ASCII BMP', 'Grüße, Здравствуйте, こんにちは, مرحبا, \u202eRTL\u202c', null],
    ['lone surrogate U+D800', '\ud800', profile().loneSurrogateEcho],
    ['64 KiB message', bigMessage(64 * 1024), null],
    ['1 MiB message', bigMessage(1024 * 1024), null],
  ];
  for (let i = 0; i < 50; i += 1) batch.push([`sequence #${i}`, `seq-${i}`, null]);
  batch.push(['after the big ones', 'still in order', null]);
  return batch.map(([label, sent, expected]) => ({ label, sent, expected: expected ?? sent }));
}

/** JSON.stringify, with everything outside printable ASCII as \uXXXX (readable in any log). */
function show(s) {
  return JSON.stringify(s).replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

function codeUnit(s, i) {
  return i < s.length ? `U+${s.charCodeAt(i).toString(16).toUpperCase().padStart(4, '0')}` : 'end of string';
}

/** Returns null when equal, otherwise a one-line explanation of the difference. */
function explainDifference(actual, expected) {
  if (actual === expected) return null;
  if (typeof actual !== 'string') return `got a ${typeof actual}, expected a string`;
  let i = 0;
  while (i < actual.length && i < expected.length && actual[i] === expected[i]) i += 1;
  return (
    `length ${actual.length} (expected ${expected.length}); first difference at code unit ${i}: ` +
    `got ${codeUnit(actual, i)}, expected ${codeUnit(expected, i)}; ` +
    `context got ${show(actual.slice(Math.max(0, i - 8), i + 8))} ` +
    `expected ${show(expected.slice(Math.max(0, i - 8), i + 8))}`
  );
}

/** Throws an error listing every mismatching message of an ordered batch. */
function assertBatch(received, batch) {
  const problems = [];
  if (received.length !== batch.length) {
    problems.push(`received ${received.length} messages, expected ${batch.length}`);
  }
  const n = Math.min(received.length, batch.length);
  for (let i = 0; i < n; i += 1) {
    const diff = explainDifference(received[i], batch[i].expected);
    if (diff) problems.push(`#${i} (${batch[i].label}): ${diff}`);
  }
  if (problems.length) {
    throw new Error(`echo batch mismatch:\n  ${problems.slice(0, 20).join('\n  ')}`);
  }
}

module.exports = { echoBatch, bigMessage, explainDifference, assertBatch, range, show };
