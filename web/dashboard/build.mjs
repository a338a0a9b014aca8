// Builds the dashboard: node build.mjs --out DIR [--dev] [--analyze]
// DIR/index.html plus hashed, minified ES modules (code-split; the PDF library is its own lazy
// chunk) and CSS under DIR/assets/. The output is deterministic: the same sources give the same
// bytes and the same names. DIR/assets is emptied first so stale hashes do not pile up.
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

function parseArgs(argv) {
  const args = { out: null, dev: false, analyze: false };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--out') args.out = argv[++i];
    else if (argv[i] === '--dev') args.dev = true;
    else if (argv[i] === '--analyze') args.analyze = true;
    else throw new Error(`build.mjs: unknown argument ${argv[i]} (usage: --out DIR [--dev] [--analyze])`);
  }
  if (!args.out) throw new Error('build.mjs: --out DIR is required');
  return args;
}

// jsPDF imports html2canvas, canvg and DOMPurify on demand for .html() and SVG input; the
// dashboard only hands it PNG images, so those resolve to a module that refuses to load.
const stubOptional = {
  name: 'stub-optional',
  setup(build) {
    build.onResolve({ filter: /^(html2canvas|canvg|dompurify)$/ }, (a) => ({ path: a.path, namespace: 'stub' }));
    build.onLoad({ filter: /.*/, namespace: 'stub' }, (a) => ({
      contents: `throw new Error(${JSON.stringify(a.path + ' is not bundled in the dashboard')});`,
      loader: 'js',
    }));
  },
};

async function loadEsbuild() {
  try {
    return await import('esbuild');
  } catch {
    throw new Error(`build.mjs: esbuild is not installed in ${here}/node_modules (run scripts/install-deps, or npm ci in web/dashboard/)`);
  }
}

async function main() {
  const { out, dev, analyze } = parseArgs(process.argv.slice(2));
  const esbuild = await loadEsbuild();
  const outDir = resolve(out);
  await rm(join(outDir, 'assets'), { recursive: true, force: true });
  await mkdir(join(outDir, 'assets'), { recursive: true });
  const result = await esbuild.build({
    entryPoints: { app: join(here, 'src/main.js') },
    absWorkingDir: here,
    bundle: true,
    splitting: true,
    format: 'esm',
    target: ['es2020', 'chrome100', 'firefox100', 'safari15'],
    minify: !dev,
    sourcemap: false,
    legalComments: 'none',
    charset: 'utf8',
    outdir: join(outDir, 'assets'),
    entryNames: '[name]-[hash]',
    chunkNames: '[name]-[hash]',
    assetNames: '[name]-[hash]',
    loader: { '.svg': 'file', '.png': 'file' },
    define: { 'process.env.NODE_ENV': '"production"' },
    plugins: [stubOptional],
    metafile: true,
    logLevel: 'warning',
  });
  let js = null;
  let css = null;
  for (const [file, info] of Object.entries(result.metafile.outputs)) {
    if (info.entryPoint === 'src/main.js') {
      js = file;
      css = info.cssBundle || null;
    }
  }
  if (!js) throw new Error('build.mjs: esbuild produced no entry chunk');
  const rel = (f) => '/' + relative(outDir, resolve(here, f)).split('\\').join('/');
  const template = await readFile(join(here, 'src/index.html'), 'utf8');
  const tags =
    (css ? `<link rel="stylesheet" href="${rel(css)}">\n` : '') +
    `<script type="module" src="${rel(js)}"></script>`;
  await writeFile(join(outDir, 'index.html'), template.replace('<!--assets-->', tags));
  if (analyze) console.log(await esbuild.analyzeMetafile(result.metafile));
  const files = Object.keys(result.metafile.outputs).length + 1;
  console.log(`dashboard: ${files} files in ${outDir}`);
}

main().catch((e) => {
  console.error(e.message || e);
  process.exit(1);
});
