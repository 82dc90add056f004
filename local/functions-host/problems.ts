/**
 * The host's own error answers as application/problem+json, written by the app's one problem writer
 * (shared/http/problem.ts): a caller reads a problem of the host like any problem of the API.
 */
import { STATUS_CODES, type ServerResponse } from 'node:http';
import type { ProblemError } from '../../shared/errors/index.js';
import { problemResponse } from '../../shared/http/problem.js';

interface ProblemAnswer {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

function problemAnswer(problem: ProblemError): ProblemAnswer {
  const response = problemResponse(problem);
  const body = Buffer.from(JSON.stringify(response.jsonBody));
  return {
    status: problem.status,
    headers: { ...(response.headers as Record<string, string>), 'content-length': String(body.length) },
    body,
  };
}

/** Answers `res` with the problem. */
export function sendProblem(res: ServerResponse, problem: ProblemError): void {
  if (res.headersSent) return;
  const answer = problemAnswer(problem);
  res.writeHead(answer.status, answer.headers);
  res.end(res.req.method === 'HEAD' ? undefined : answer.body);
}

/** The problem as a whole HTTP/1.1 response that closes the connection, for a socket without a request. */
export function rawProblemResponse(problem: ProblemError): Buffer {
  const answer = problemAnswer(problem);
  const head = [
    `HTTP/1.1 ${answer.status} ${STATUS_CODES[answer.status] ?? ''}`,
    ...Object.entries({ ...answer.headers, connection: 'close' }).map(([k, v]) => `${k}: ${v}`),
    '',
    '',
  ].join('\r\n');
  return Buffer.concat([Buffer.from(head, 'latin1'), answer.body]);
}
