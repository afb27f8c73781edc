import type { Socket } from 'node:net';
import { AbstractMessageWriter, Message, MessageWriter } from 'vscode-jsonrpc/node';

/**
 * Content-Length framed writer over a socket whose write() never rejects.
 *
 * vscode-jsonrpc's own SocketMessageWriter rejects when the socket is already destroyed, and its
 * sendRequest turns that rejection into an unhandled one (a crash under Node's default policy). Here a
 * failed write is reported through onError and the socket's close; the client then disposes the
 * connection, which rejects the pending calls with "disconnected".
 */
export class SocketWriter extends AbstractMessageWriter implements MessageWriter {
  constructor(private readonly socket: Socket) {
    super();
    socket.once('close', () => this.fireClose());
  }

  /** Frames and writes one message; resolves once written or failed. */
  write(msg: Message): Promise<void> {
    if (this.socket.destroyed || !this.socket.writable) return Promise.resolve();
    const body = Buffer.from(JSON.stringify(msg), 'utf8');
    const frame = Buffer.concat([Buffer.from(`Content-Length: ${body.byteLength}\r\n\r\n`, 'ascii'), body]);
    return new Promise((resolve) => {
      this.socket.write(frame, (err) => {
        if (err) this.fireError(err, msg, 1);
        resolve();
      });
    });
  }

  /** Ends the socket's writable side. */
  end(): void {
    this.socket.end();
  }
}
