import { errorStatus, OftsrError, toErrorBody } from '@oftsr/shared';
import { Hono } from 'hono';
import type { Bindings } from './bindings.ts';
import { cors } from './middleware/cors.ts';
import { requestId, type RequestIdVariables } from './middleware/request-id.ts';
import { signature, type SignatureVariables } from './middleware/signature.ts';
import { health } from './routes/health.ts';
import { image } from './routes/image.ts';
import { purge } from './routes/purge.ts';
import { work } from './routes/work.ts';
import { queue } from './consumer.ts';

/** The edge Worker: composition only (middleware, routes, one error handler, the queue consumer). */
const app = new Hono<{ Bindings: Bindings; Variables: RequestIdVariables & SignatureVariables }>();

app.use(requestId());
app.route('/', health);
app.route('/', purge);
app.route('/', work);
// After health: a misconfigured CORS list must not take the health routes down with it.
app.use(cors());
app.on(['GET', 'HEAD'], '/*', signature());
app.route('/', image);

app.all('*', (c) => {
  const err = new OftsrError('bad_param', `method ${c.req.method} not allowed; use GET or HEAD`, {
    status: 405,
    field: 'method',
  });
  return c.json(toErrorBody(err), 405, { allow: 'GET, HEAD', 'cache-control': 'no-store' });
});

app.onError((err, c) => {
  const status = errorStatus(err);
  if (!(err instanceof OftsrError) || status >= 500) {
    console.error(
      JSON.stringify({
        event: 'error',
        requestId: c.get('requestId'),
        error: String(err),
        cause: String((err as Error).cause ?? ''),
      }),
    );
  }
  return c.json(toErrorBody(err), status as 400, { 'cache-control': 'no-store' });
});

/** The Worker: HTTP through the app, the work queue (and its dead letters) through the consumer. */
export default { fetch: app.fetch, queue } satisfies ExportedHandler<Bindings>;
