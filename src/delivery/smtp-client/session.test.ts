// Session setup against hand-driven servers on 127.0.0.1: connect errors, greeting,
// EHLO/HELO, STARTTLS (including plaintext injection), AUTH, unsolicited and bad replies.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  makeCertificate,
  type RawPeer,
  type RawServer,
  rejection,
  startRawServer,
  unusedPort,
} from './raw-peer.testkit.ts';
import { openSmtpConnection } from './session.ts';
import type { ConnectOptions } from './types.ts';

const servers: RawServer[] = [];
async function serve(
  handler: (peer: RawPeer) => Promise<void>,
  tlsMaterial?: { key: string; cert: string },
): Promise<RawServer> {
  const server = await startRawServer(handler, tlsMaterial ? { tls: tlsMaterial } : {});
  servers.push(server);
  return server;
}
after(async () => {
  for (const server of servers) {
    assert.deepEqual(server.handlerErrors, [], 'server handlers ran to completion');
    await server.close();
  }
});

function options(server: { port: number }, overrides: Partial<ConnectOptions> = {}): ConnectOptions {
  return {
    host: '127.0.0.1',
    port: server.port,
    mxHost: 'mx.test',
    localHostname: 'client.test',
    tls: 'none',
    timeouts: { connectMs: 2000, greetingMs: 2000, ehloMs: 2000, starttlsMs: 2000 },
    ...overrides,
  };
}

describe('openSmtpConnection: connecting', () => {
  it('reports ECONNREFUSED in the connect phase', async () => {
    const port = await unusedPort();
    const error = await rejection(openSmtpConnection(options({ port })));
    assert.equal(error.code, 'ECONNREFUSED');
    assert.equal(error.phase, 'connect');
    assert.equal(error.temporary, true);
  });

  it('refuses a host name instead of an IP, and a bad EHLO name', async () => {
    assert.equal(
      (await rejection(openSmtpConnection(options({ port: 25 }, { host: 'localhost' })))).code,
      'INVALID',
    );
    const bad = await rejection(openSmtpConnection(options({ port: 25 }, { localHostname: 'a b\r\nRSET' })));
    assert.equal(bad.code, 'INVALID');
  });

  it('times out a server that never speaks, and closes the socket', async () => {
    const server = await serve(async (peer) => {
      await peer.closed;
    });
    const started = Date.now();
    const error = await rejection(openSmtpConnection(options(server, { timeouts: { greetingMs: 150 } })));
    assert.equal(error.code, 'ETIMEDOUT');
    assert.equal(error.phase, 'greeting');
    assert.ok(Date.now() - started < 1500);
    await server.peers[0]!.closed;
  });

  it('fails with GREETING_REJECTED on a 554 banner and says QUIT', async () => {
    const server = await serve(async (peer) => {
      peer.write('554 5.7.1 go away\r\n');
      await peer.expect('QUIT');
      peer.write('221 bye\r\n');
      peer.end();
    });
    const error = await rejection(openSmtpConnection(options(server)));
    assert.equal(error.code, 'GREETING_REJECTED');
    assert.equal(error.phase, 'greeting');
    assert.equal(error.temporary, false);
    assert.deepEqual(error.reply, { code: 554, enhanced: '5.7.1', text: 'go away' });
    await server.peers[0]!.closed;
  });
});

describe('openSmtpConnection: EHLO', () => {
  it('keeps EHLO keywords upper-cased with their parameters', async () => {
    const server = await serve(async (peer) => {
      await peer.greetAndEhlo(['pipelining', 'SIZE 5000', '8BITMIME']);
      await peer.expect('QUIT');
      peer.write('221 bye\r\n');
    });
    const conn = await openSmtpConnection(options(server));
    assert.deepEqual(
      [...conn.extensions],
      [
        ['PIPELINING', ''],
        ['SIZE', '5000'],
        ['8BITMIME', ''],
      ],
    );
    assert.equal(conn.usable, true);
    assert.equal(conn.tls, undefined);
    await conn.quit();
    assert.equal(conn.usable, false);
  });

  it('falls back to HELO after a 5xx to EHLO', async () => {
    const server = await serve(async (peer) => {
      peer.write('220 old.test\r\n');
      await peer.expect('EHLO client.test');
      peer.write('500 what\r\n');
      await peer.expect('HELO client.test');
      peer.write('250 old.test\r\n');
      await peer.expect('QUIT');
      peer.write('221 bye\r\n');
    });
    const conn = await openSmtpConnection(options(server));
    assert.equal(conn.extensions.size, 0);
    await conn.quit();
  });

  it('fails with REJECTED on a 4xx to EHLO', async () => {
    const server = await serve(async (peer) => {
      peer.write('220 busy.test\r\n');
      await peer.expect('EHLO');
      peer.write('421 4.3.2 shutting down\r\n');
      peer.end();
    });
    const error = await rejection(openSmtpConnection(options(server)));
    assert.equal(error.code, 'REJECTED');
    assert.equal(error.phase, 'ehlo');
    assert.equal(error.temporary, true);
  });

  it('treats extra replies in the same packet as a protocol error', async () => {
    const server = await serve(async (peer) => {
      peer.write('220 x\r\n');
      await peer.expect('EHLO');
      peer.write('250 x\r\n250 extra\r\n');
      await peer.closed;
    });
    const error = await rejection(openSmtpConnection(options(server)));
    assert.equal(error.code, 'PROTOCOL');
    assert.equal(error.phase, 'ehlo');
  });

  it('treats a bare LF reply as a protocol error', async () => {
    const server = await serve(async (peer) => {
      peer.write('220 x\n');
      await peer.closed;
    });
    const error = await rejection(openSmtpConnection(options(server)));
    assert.equal(error.code, 'PROTOCOL');
    assert.equal(error.phase, 'greeting');
  });

  it('drops the connection when the server speaks while no command is outstanding', async () => {
    let release: () => void = () => {};
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    const server = await serve(async (peer) => {
      await peer.greetAndEhlo(['PIPELINING']);
      await released;
      peer.write('250 surprise\r\n');
      await peer.closed;
    });
    const conn = await openSmtpConnection(options(server));
    assert.equal(conn.usable, true);
    release();
    await server.peers[0]!.closed; // the client hung up on the unsolicited reply
    assert.equal(conn.usable, false);
  });

  it('QUITs after idleMs without a transaction', async () => {
    const server = await serve(async (peer) => {
      await peer.greetAndEhlo([]);
      await peer.expect('QUIT', 3000);
      peer.write('221 bye\r\n');
    });
    const conn = await openSmtpConnection(options(server, { timeouts: { idleMs: 50 } }));
    await server.peers[0]!.closed;
    assert.equal(conn.usable, false);
  });
});

describe('openSmtpConnection: TLS', () => {
  let material: { key: string; cert: string } | undefined;
  before(async () => {
    material = await makeCertificate('mx.test');
  });

  it('fails with TLS_REQUIRED under encrypt when STARTTLS is not offered', async () => {
    const server = await serve(async (peer) => {
      await peer.greetAndEhlo(['PIPELINING']);
      await peer.closed;
    });
    const error = await rejection(openSmtpConnection(options(server, { tls: 'encrypt' })));
    assert.equal(error.code, 'TLS_REQUIRED');
    assert.equal(error.phase, 'starttls');
  });

  it('stays in plaintext under may when STARTTLS is not offered', async () => {
    const server = await serve(async (peer) => {
      await peer.greetAndEhlo(['PIPELINING']);
      await peer.closed;
    });
    const conn = await openSmtpConnection(options(server, { tls: 'may' }));
    assert.equal(conn.tls, undefined);
    conn.destroy();
  });

  it('fails with TLS_FAILED when STARTTLS is refused', async () => {
    const server = await serve(async (peer) => {
      await peer.greetAndEhlo(['STARTTLS']);
      await peer.expect('STARTTLS');
      peer.write('454 4.7.0 TLS not available\r\n');
      await peer.expect('QUIT');
      peer.write('221 bye\r\n');
    });
    const error = await rejection(openSmtpConnection(options(server, { tls: 'may' })));
    assert.equal(error.code, 'TLS_FAILED');
    assert.equal(error.reply?.code, 454);
  });

  it('discards plaintext injected after the STARTTLS reply and asks EHLO again over TLS', async (t) => {
    if (!material) return t.skip('openssl CLI not available to make a test certificate');
    const { key, cert } = material;
    const server = await serve(async (peer) => {
      await peer.greetAndEhlo(['STARTTLS', 'X-BEFORE-TLS']);
      await peer.expect('STARTTLS');
      peer.write('220 go\r\n250 injected\r\n'); // one write: the CVE-2011-0411 pattern
      await peer.upgrade(key, cert);
      await peer.expect('EHLO client.test');
      peer.write('250-raw.test after tls\r\n250 X-AFTER-TLS\r\n');
      await peer.expect('QUIT');
      peer.write('221 bye\r\n');
    });
    const conn = await openSmtpConnection(options(server, { tls: 'encrypt' }));
    assert.ok(conn.tls, 'TLS is up');
    assert.match(conn.tls.protocol, /^TLSv1\.[23]$/);
    assert.equal(conn.tls.authorized, false, 'self-signed, not verified under encrypt');
    assert.deepEqual([...conn.extensions.keys()], ['X-AFTER-TLS'], 'extensions come from the EHLO over TLS');
    await conn.quit();
  });

  it('verify accepts a certificate that chains to the given CA and names mxHost', async (t) => {
    if (!material) return t.skip('openssl CLI not available to make a test certificate');
    const { key, cert } = material;
    const server = await serve(async (peer) => {
      await peer.greetAndEhlo(['STARTTLS']);
      await peer.expect('STARTTLS');
      peer.write('220 go\r\n');
      await peer.upgrade(key, cert);
      await peer.expect('EHLO');
      peer.write('250 raw.test\r\n');
      await peer.closed;
    });
    const conn = await openSmtpConnection(options(server, { tls: 'verify', tlsOptions: { ca: cert } }));
    assert.equal(conn.tls?.authorized, true);
    conn.destroy();
  });

  it('verify fails with TLS_FAILED when the certificate names another host', async (t) => {
    if (!material) return t.skip('openssl CLI not available to make a test certificate');
    const { key, cert } = material;
    const server = await serve(async (peer) => {
      await peer.greetAndEhlo(['STARTTLS']);
      await peer.expect('STARTTLS');
      peer.write('220 go\r\n');
      await peer.upgrade(key, cert).catch(() => {});
      await peer.closed;
    });
    const error = await rejection(
      openSmtpConnection(options(server, { tls: 'verify', mxHost: 'other.test', tlsOptions: { ca: cert } })),
    );
    assert.equal(error.code, 'TLS_FAILED');
    assert.equal(error.phase, 'starttls');
  });

  it('speaks TLS from the first byte with implicitTls', async (t) => {
    if (!material) return t.skip('openssl CLI not available to make a test certificate');
    const server = await serve(async (peer) => {
      await peer.greetAndEhlo(['AUTH PLAIN']);
      await peer.closed;
    }, material);
    const conn = await openSmtpConnection(options(server, { tls: 'encrypt', implicitTls: true }));
    assert.ok(conn.tls);
    assert.equal(conn.extensions.get('AUTH'), 'PLAIN');
    conn.destroy();
  });
});

describe('openSmtpConnection: AUTH', () => {
  it('authenticates with PLAIN (loopback allows plaintext)', async () => {
    let decoded = '';
    const server = await serve(async (peer) => {
      await peer.greetAndEhlo(['AUTH LOGIN PLAIN']);
      const line = await peer.expect('AUTH PLAIN ');
      decoded = Buffer.from(line.slice('AUTH PLAIN '.length), 'base64').toString('utf8');
      peer.write('235 2.7.0 ok\r\n');
      await peer.closed;
    });
    const conn = await openSmtpConnection(
      options(server, { auth: { username: 'relay', password: 'sëcret' } }),
    );
    assert.equal(decoded, '\0relay\0sëcret');
    conn.destroy();
  });

  it('authenticates with LOGIN when PLAIN is not offered', async () => {
    const seen: string[] = [];
    const server = await serve(async (peer) => {
      await peer.greetAndEhlo(['AUTH=LOGIN']);
      await peer.expect('AUTH LOGIN');
      peer.write('334 VXNlcm5hbWU6\r\n');
      seen.push(Buffer.from(await peer.readLine(), 'base64').toString());
      peer.write('334 UGFzc3dvcmQ6\r\n');
      seen.push(Buffer.from(await peer.readLine(), 'base64').toString());
      peer.write('235 ok\r\n');
      await peer.closed;
    });
    const conn = await openSmtpConnection(options(server, { auth: { username: 'u', password: 'p' } }));
    assert.deepEqual(seen, ['u', 'p']);
    conn.destroy();
  });

  it('fails with AUTH_FAILED on a 535, AUTH_UNAVAILABLE when not offered', async () => {
    const refused = await serve(async (peer) => {
      await peer.greetAndEhlo(['AUTH PLAIN']);
      await peer.expect('AUTH PLAIN');
      peer.write('535 5.7.8 bad credentials\r\n');
      await peer.expect('QUIT');
      peer.write('221 bye\r\n');
    });
    const error = await rejection(
      openSmtpConnection(options(refused, { auth: { username: 'u', password: 'x' } })),
    );
    assert.equal(error.code, 'AUTH_FAILED');
    assert.equal(error.temporary, false);
    const none = await serve(async (peer) => {
      await peer.greetAndEhlo(['PIPELINING']);
      await peer.closed;
    });
    const missing = await rejection(
      openSmtpConnection(options(none, { auth: { username: 'u', password: 'x' } })),
    );
    assert.equal(missing.code, 'AUTH_UNAVAILABLE');
  });
});
