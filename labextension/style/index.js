import './base.css';
import './builder.css';
import './reports.css';
import './result.css';
