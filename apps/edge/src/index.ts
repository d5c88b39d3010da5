import { Hono } from 'hono';
import { OftsrError, toErrorBody } from '@oftsr/shared';

/** The edge Worker. Only a health check until issue #5 adds the upscale route. */
const app = new Hono();

app.get('/healthz', (c) => c.json({ ok: true }));

app.all('*', (c) => {
  const body = toErrorBody(
    new OftsrError('not_implemented', 'the edge is not built yet (issue #5)', { status: 501 }),
  );
  return c.json(body, 501);
});

export default app;
