// Warm Java Saxon baseline for bench/bench_kit_java.py: the official compiled schematrons
// (XSLT made by the kit's ISO skeleton, as ../shared/oracle/pipeline/official.py places them
// in its working copy of the kit) run in ONE warm JVM with Saxon-HE 9.9 s9api, each
// stylesheet compiled once, every document parsed once per pass and transformed by each of
// the stylesheets it declares. Prints one JSON object per line: {"doc", "xsl", "pass", "ms"}.
// Written by hand because no library offers a warm, per-document timing of Saxon from Python.
//
//   javac -cp Saxon-HE.jar -d OUT WarmSchematron.java
//   java -cp Saxon-HE.jar:OUT WarmSchematron PASSES < pairs.tsv   (lines: doc<TAB>xsl)
import java.io.*;
import java.util.*;
import javax.xml.transform.stream.StreamSource;
import net.sf.saxon.s9api.*;

public class WarmSchematron {
    public static void main(String[] args) throws Exception {
        int passes = Integer.parseInt(args[0]);
        Processor proc = new Processor(false);
        XsltCompiler compiler = proc.newXsltCompiler();
        DocumentBuilder builder = proc.newDocumentBuilder();
        Map<String, XsltExecutable> sheets = new LinkedHashMap<>();
        Map<String, List<String>> byDoc = new LinkedHashMap<>();
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, "UTF-8"));
        for (String line; (line = in.readLine()) != null; ) {
            String[] f = line.split("\t");
            if (f.length != 2) continue;
            byDoc.computeIfAbsent(f[0], k -> new ArrayList<>()).add(f[1]);
            if (!sheets.containsKey(f[1])) {
                long t = System.nanoTime();
                sheets.put(f[1], compiler.compile(new StreamSource(new File(f[1]))));
                System.out.println("{\"compile\": " + q(f[1]) + ", \"ms\": " + (System.nanoTime() - t) / 1e6 + "}");
            }
        }
        for (int p = 0; p < passes; p++) {
            for (Map.Entry<String, List<String>> e : byDoc.entrySet()) {
                long t0 = System.nanoTime();
                XdmNode doc = builder.build(new File(e.getKey()));
                double parse = (System.nanoTime() - t0) / 1e6;
                System.out.println("{\"doc\": " + q(e.getKey()) + ", \"xsl\": \"(parse)\", \"pass\": " + p + ", \"ms\": " + parse + "}");
                for (String xsl : e.getValue()) {
                    long t = System.nanoTime();
                    try {
                        Xslt30Transformer tr = sheets.get(xsl).load30();
                        tr.setGlobalContextItem(doc);
                        XdmDestination out = new XdmDestination();
                        tr.applyTemplates(doc, out);
                    } catch (SaxonApiException ex) {
                        // as in the official pipeline, a run-time error ends that transformation
                    }
                    System.out.println("{\"doc\": " + q(e.getKey()) + ", \"xsl\": " + q(xsl) + ", \"pass\": " + p
                                       + ", \"ms\": " + (System.nanoTime() - t) / 1e6 + "}");
                }
            }
        }
    }

    static String q(String s) {
        return "\"" + s.replace("\\", "\\\\").replace("\"", "\\\"") + "\"";
    }
}
